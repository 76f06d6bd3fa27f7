"""Serving: `Detector` (a shipped pretrained model or a trained run), prediction on audio files, live streams,
the web page and API of `fakespeech serve` (`web/`), and export as SavedModel / TFLite."""
