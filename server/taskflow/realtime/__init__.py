"""The live channel: Socket.IO handlers, presence, and the publisher the services use."""
