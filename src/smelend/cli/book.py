"""smelend book: registered on import (work in progress)."""
