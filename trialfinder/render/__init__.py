"""Turn results into what people and programs read: text, JSON, and (later) HTML/Markdown/CSV."""
