"""Judges: the litellm model judge, the offline local model server, and response models they share."""
