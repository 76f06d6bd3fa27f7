"""Turns anti-spoofing corpora (ASVspoof2019 LA/PA and others) into stratified TFRecord shards."""

from tfrecord_builder.schema import decode_audio, encode_example, parse_example

__all__ = ["decode_audio", "encode_example", "parse_example"]
