"""The local web page and JSON API of `fakespeech serve` (needs the `serve` extra: starlette, uvicorn, markdown).

`create_app(detector)` lives in `pipelines.serve.web.app`; it is not imported here, so that this package (and its
static files) can be found without the extra installed.
"""
