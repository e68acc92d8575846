"""The one conversation pipeline every channel shares: recognise, decide, verify, forward."""
