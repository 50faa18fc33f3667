"""Starting, watching and stopping the embedded stack (Tansu broker, Swift object store)."""
