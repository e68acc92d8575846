"""The website chat channel: socket.io events in, Inbound to the pipeline, replies out."""
