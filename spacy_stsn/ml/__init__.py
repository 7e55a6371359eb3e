"""The Thinc side: the network wrapped as a registered architecture, the requests it
takes, its token encoders, compute precision, optimizer and the process it runs in."""
