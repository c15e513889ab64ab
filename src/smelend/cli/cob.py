"""smelend cob: registered on import (work in progress)."""
