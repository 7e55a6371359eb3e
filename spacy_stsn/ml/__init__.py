"""The Thinc side: the network wrapped as a registered architecture, its token encoders,
compute precision, optimizer and the runtime settings they need."""
