"""The incident's room in chat: its name, what it says (topic, pinned summary, timeline lines), and which
events a person in the room needs to see. Nothing here talks to a chat service (tasks/chat/ does)."""
