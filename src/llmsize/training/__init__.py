"""Training memory: recipes, optimizer states, activations, LoRA/QLoRA, parallel layouts and the
phases of a step whose maximum is the peak."""
