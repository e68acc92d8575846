"""What the parts of a running process share below its composition root (`gateway.web.app`):
the typed keys of the application's shared resources, draining, the client's address. Channels
import these, never the package that assembles them."""
