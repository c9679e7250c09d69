"""Test doubles of services that cannot run here (an Ollama server), on their real wire format."""
