"""smelend marketing: registered on import (work in progress)."""
