"""Config groups the method configs share (method/lora, method/train, ...): each plugin's method config
pulls them in through its defaults list, so they land at method.lora, method.train, ..."""
