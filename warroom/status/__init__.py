"""The public status page: what customers read, only ever what a person published."""
