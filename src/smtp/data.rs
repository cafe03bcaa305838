//! The DATA receiver: a streaming state machine from wire bytes to message content.
