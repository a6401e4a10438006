"""Web front end: aiohttp routes, strict JWS handling, nonces and problem documents."""
