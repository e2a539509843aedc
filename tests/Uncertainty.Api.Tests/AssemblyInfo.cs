// TorchSharp is not safe for concurrent use (its temporary Scalars and shared state): test classes run one at a time.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
