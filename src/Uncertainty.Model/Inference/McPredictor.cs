using System.Runtime.InteropServices;
using TorchSharp;
using Uncertainty.Model.Native;
using Uncertainty.Model.Networks;
using static TorchSharp.torch;

namespace Uncertainty.Model.Inference;

/// <summary>
/// Monte Carlo dropout with the T passes folded into the batch: a request's [B, ...] inputs become
/// [T*B, ...] rows ([T*B, C, H, W] for images) and one forward pass computes every sample; several requests merge into the
/// same pass. The predictor knows nothing of layer types: the network runs its deterministic prefix and its masks.
/// Rows are processed in chunks within a memory budget and streamed into per-request statistics.
/// Not thread-safe: TorchSharp's dispose scopes and grad mode are per thread, so one thread owns a predictor.
/// </summary>
public sealed class McPredictor : IDisposable
{
    private readonly DropoutNetwork network;
    private readonly DropoutMasks maskSource;
    private readonly McOptions options;
    private readonly double[] outputScale;

    /// <param name="network">Moved to <paramref name="device"/> and put in eval mode (BatchNorm uses running statistics).</param>
    /// <param name="outputScale">Per output, the factor from network units to reported units; adaptive T compares standard errors in those.</param>
    public McPredictor(DropoutNetwork network, Device device, McOptions? options = null, IReadOnlyList<double>? outputScale = null)
    {
        TorchBackend.EnsureInitialized();
        this.network = network;
        this.options = options ?? new McOptions();
        Device = device;
        network.to(device);
        if (this.options.Precision == ComputePrecision.Bf16)
        {
            network.to(ScalarType.BFloat16);
        }
        else if (this.options.Precision == ComputePrecision.Tf32)
        {
            torch.backends.cuda.matmul.allow_tf32 = true; // libtorch has only the process-wide switch
        }

        network.eval();
        Reproducible = this.options.Reproducible ?? (device.type == DeviceType.CPU && TorchBackend.EnsureInitialized().Reproducibility != CpuReproducibility.Off);
        maskSource = new DropoutMasks(device);
        this.outputScale = [.. outputScale ?? Enumerable.Repeat(1.0, network.Spec.Head.Outputs)];
    }

    public Device Device { get; }

    // The spec's widths are inferred layer by layer on every read: the server asks for ChunkRows per request and per chunk.
    private long? chunkRows;

    /// <summary>
    /// <see cref="McOptions.Reproducible"/> as resolved: by default true on the CPU with MKL's reproducibility on. A request's
    /// numbers are then bit-identical alone, merged with any others, or chunked: every pass computes a padded row count
    /// (<see cref="PassRows"/>) and every sample goes through the host's in-order Welford update, never the on-device
    /// reduction, whose blocks follow the chunking.
    /// </summary>
    public bool Reproducible { get; }

    private ScalarType ComputeType => options.Precision == ComputePrecision.Bf16 ? ScalarType.BFloat16 : ScalarType.Float32;

    /// <summary>
    /// The type input rows travel in: the compute type, except token ids, which stay float32 (exact to 2^24; bfloat16 holds
    /// integers exactly only to 256, so id 257 would read as 256 and the largest ids as ids past the vocabulary).
    /// </summary>
    private ScalarType InputType => network.Spec.IsTokenSequence ? ScalarType.Float32 : ComputeType;

    public NetworkSpec Spec => network.Spec;

    /// <summary>Rows per chunk under the memory budget.</summary>
    public long ChunkRows => chunkRows ??= Math.Max(1, (options.MaxChunkElements ?? McOptions.DefaultChunkElements(Device)) / network.Spec.MaxWidth);

    public McPrediction Predict(McRequest request, CancellationToken cancellationToken = default) =>
        Predict([request], cancellationToken)[0];

    /// <summary>Predicts several requests in shared forward passes; each result equals that request's result alone.</summary>
    public IReadOnlyList<McPrediction> Predict(IReadOnlyList<McRequest> requests, CancellationToken cancellationToken = default)
    {
        using var run = Start(requests);
        while (run.Step(cancellationToken))
        {
        }

        return run.Results;
    }

    /// <summary>
    /// Starts the requests' passes without running them: each <see cref="McRun.Step"/> runs one chunk, so a
    /// caller can serve other work between the chunks of a large job. The results equal <see cref="Predict(IReadOnlyList{McRequest}, CancellationToken)"/>'s.
    /// </summary>
    public McRun Start(IReadOnlyList<McRequest> requests)
    {
        ArgumentOutOfRangeException.ThrowIfZero(requests.Count, nameof(requests));
        var states = requests.Select(Validate).Select(r => new RequestState(r, network.Spec.Head)).ToArray();
        for (int i = 1; i < states.Length; i++)
        {
            states[i].InputOffset = states[i - 1].InputOffset + states[i - 1].Request.Rows;
        }

        using var scope = NewDisposeScope();
        using var inference = inference_mode();
        // The prefix computes every input row of the call once; reproducibly, in a padded pass (zero rows at the end).
        long inputRows = PassRows(states[^1].InputOffset + requests[^1].Rows);
        var allInputs = new float[inputRows * network.Spec.Inputs];
        for (int i = 0; i < requests.Count; i++)
        {
            requests[i].Inputs.CopyTo(allInputs, states[i].InputOffset * network.Spec.Inputs);
        }

        var inputs = tensor(allInputs, [inputRows, network.Spec.Inputs], device: Device).to(InputType);
        var start = options.UsePrefix ? network.FirstStochasticStage : 0;
        var first = options.UsePrefix ? network.RunStages(inputs, 0, start, plan: null, masks: null) : inputs;

        // The run owns the prefix output across its steps; every step has a dispose scope of its own.
        return new McRun(this, states, first.DetachFromDisposeScope(), start);
    }

    /// <summary>A started set of requests, advanced one chunk at a time on the predictor's thread.</summary>
    public sealed class McRun : IDisposable
    {
        private readonly McPredictor predictor;
        private readonly RequestState[] states;
        private readonly Tensor first;
        private readonly int start;

        internal McRun(McPredictor predictor, RequestState[] states, Tensor first, int start)
        {
            this.predictor = predictor;
            this.states = states;
            this.first = first;
            this.start = start;
        }

        /// <summary>True once every request has all its samples (or stopped early: adaptive T, cancellation).</summary>
        public bool Done => states.All(s => s.Done);

        /// <summary>Runs the next chunk; false when there was nothing left to run.</summary>
        public bool Step(CancellationToken cancellationToken = default)
        {
            if (predictor.NextChunk(states) is not { Count: > 0 } blocks)
            {
                return false;
            }

            cancellationToken.ThrowIfCancellationRequested();
            using (inference_mode())
            {
                predictor.RunChunk(first, start, blocks);
            }

            foreach (var state in states.Where(s => !s.Done))
            {
                state.Done = state.Planned == state.Request.Samples
                    || (state.Planned % predictor.options.AdaptiveCheckEvery == 0 && state.Accumulator.MaxStandardError(predictor.outputScale) <= state.Request.Tolerance);
            }

            return true;
        }

        /// <summary>One result per request, in order; meaningful once <see cref="Done"/>.</summary>
        public IReadOnlyList<McPrediction> Results =>
            [.. states.Select(s => new McPrediction(s.Accumulator.Count, s.Accumulator.Summaries(), s.Accumulator.MaxStandardError(predictor.outputScale), s.Cancelled))];

        public void Dispose() => first.Dispose();
    }

    /// <summary>One deterministic pass (weight scaling), summarised like a single sample; a regression row's mixture is its one Gaussian.</summary>
    public IReadOnlyList<RowPrediction> PredictDeterministic(float[] inputs, int rows)
    {
        using var scope = NewDisposeScope();
        using var inference = inference_mode();
        var padded = new float[PassRows(rows) * network.Spec.Inputs];
        inputs.AsSpan(0, rows * network.Spec.Inputs).CopyTo(padded);
        var output = network.call(tensor(padded, [padded.Length / network.Spec.Inputs, network.Spec.Inputs], device: Device).to(InputType)).narrow(0, 0, rows);
        var accumulator = new SampleAccumulator(network.Spec.Head, rows, keepSamples: false, keepMixture: network.Spec.Head.Kind != HeadKind.Classification);
        accumulator.Add(HostView(output));
        return accumulator.Summaries();
    }

    /// <summary>Runs the samples of <paramref name="blocks"/> as one forward pass and streams them into their requests.</summary>
    private void RunChunk(Tensor first, int start, List<Block> blocks)
    {
        using var scope = NewDisposeScope();
        int samples = blocks.Sum(b => b.Count);
        int rows = blocks.Sum(b => b.Count * b.State.Request.Rows);
        // Each sample's rows are consecutive. When every sample has the same number of rows its mask is
        // broadcast over them; otherwise a row-to-sample index gathers the masks.
        int rowsPerSample = blocks.All(b => b.State.Request.Rows == blocks[0].State.Request.Rows) ? blocks[0].State.Request.Rows : 1;
        bool shareMasks = rows != samples && rowsPerSample == 1;
        int layers = network.DropoutLayers;

        // One request alone in the chunk (the large-batch case): its rows are its inputs repeated per sample,
        // built on the device, and no per-row index travels. Otherwise every row's input index is uploaded.
        bool single = blocks.Count == 1;
        long passRows = PassRows(rows);
        int expandRows = single ? 0 : (int)passRows;

        // Everything the device needs for this chunk travels in one host-to-device copy:
        // [input row of each activation row | sample of each row (when rows share masks) | mask keys per layer].
        // Filled in native memory: a managed array this size (1.6 MB at B = 1024, T = 100) would land on the
        // large-object heap every chunk and bring gen-2 collections into the hot path.
        var staging = empty(expandRows + (shareMasks ? rows : 0) + (layers * samples), ScalarType.Int64);
        var upload = MemoryMarshal.Cast<byte, long>(staging.bytes);
        var expand = upload.Slice(0, expandRows);
        var rowToSample = upload.Slice(expandRows, shareMasks ? rows : 0);
        var seeds = new ulong[samples];
        var indices = new long[samples];
        int s = 0, row = 0;
        foreach (var block in blocks)
        {
            for (int t = 0; t < block.Count; t++, s++)
            {
                seeds[s] = block.State.Request.Seed;
                indices[s] = block.First + t;
                if (single)
                {
                    continue;
                }

                for (int b = 0; b < block.State.Request.Rows; b++, row++)
                {
                    expand[row] = block.State.InputOffset + b;
                    if (shareMasks)
                    {
                        rowToSample[row] = s;
                    }
                }
            }
        }

        expand[Math.Min(row, expand.Length)..].Clear(); // padding rows read input row 0
        int keysAt = upload.Length - (layers * samples);
        MaskPlan.WriteKeys(upload[keysAt..], seeds, indices, layers);
        var onDevice = Device.type == DeviceType.CPU ? staging : staging.to(Device);
        var plan = new MaskPlan(
            onDevice.narrow(0, keysAt, layers * samples).view(layers, samples),
            shareMasks ? onDevice.narrow(0, expandRows, rows) : null,
            rowsPerSample);
        // Padding rows (reproducible passes) gather input row 0 and are dropped from the output.
        var expanded = single
            ? Repeated(first.narrow(0, blocks[0].State.InputOffset, blocks[0].State.Request.Rows), blocks[0].Count, passRows)
            : first.index_select(0, onDevice.narrow(0, 0, expandRows));
        var output = network.RunStages(expanded, start, network.StageCount, plan, maskSource).narrow(0, 0, rows);

        if (single && ReducesOnDevice(blocks[0]))
        {
            ReduceOnDevice(output, blocks[0]);
            return;
        }

        var host = HostView(output);
        int headWidth = network.Spec.HeadWidth;
        int offset = 0;
        foreach (var block in blocks)
        {
            int passWidth = block.State.Request.Rows * headWidth;
            for (int t = 0; t < block.Count; t++, offset += passWidth)
            {
                block.State.Accumulator.Add(host.Slice(offset, passWidth));
            }
        }
    }

    /// <summary>
    /// The rows one forward pass computes for <paramref name="rows"/> rows of work: the same number, or reproducibly a
    /// multiple of 8 and at least 16. MKL's sgemm computes a product's last rows, and products of very few rows, with other
    /// kernels that sum in another order: even with MKL_CBWR=AUTO, rows of a 1-output head differed whenever the row count
    /// was not a multiple of 4, and rows of a 10-output head below 10 rows. Padded, every row matched the same row of a much
    /// larger product in every count tested (docs/architecture.md, "Reproducibility: what is guaranteed").
    /// </summary>
    internal long PassRows(long rows) => Reproducible ? PaddedRows(rows) : rows;

    internal static long PaddedRows(long rows) => Math.Max(16, (rows + 7) / 8 * 8);

    /// <summary><paramref name="count"/> copies of <paramref name="block"/> ([rows, ...] of any rank) in <paramref name="rows"/> rows (any rows beyond them zero).</summary>
    private static Tensor Repeated(Tensor block, int count, long rows)
    {
        long used = block.shape[0] * count;
        var rest = block.shape[1..];
        if (rows == used)
        {
            return block.repeat([count, .. rest.Select(_ => 1L)]);
        }

        var result = zeros([rows, .. rest], block.dtype, block.device);
        result.narrow(0, 0, used).view([count, block.shape[0], .. rest]).copy_(block.unsqueeze(0).expand([count, block.shape[0], .. rest]));
        return result;
    }

    /// <summary>
    /// Regression without raw samples, enough values to be worth it: the block's per-row mean, sum of squared
    /// deviations (and, heteroscedastic, noise sum) are computed on the device in double and merged into the
    /// running statistics (Chan et al.), instead of copying every sample to the host for Welford updates.
    /// </summary>
    private bool ReducesOnDevice(Block block) =>
        !Reproducible
        && network.Spec.Head.Kind != HeadKind.Classification
        && !block.State.Request.ReturnSamples
        && !block.State.Request.KeepMixture
        && (long)block.Count * block.State.Request.Rows >= options.DeviceStatisticsMinValues;

    private void ReduceOnDevice(Tensor output, Block block)
    {
        int width = network.Spec.Head.Outputs;
        bool heteroscedastic = network.Spec.Head.Kind == HeadKind.HeteroscedasticRegression;
        var y = output.to(ScalarType.Float64).view(block.Count, block.State.Request.Rows, network.Spec.HeadWidth);
        var values = y.narrow(2, 0, width);
        var mean = values.mean([0]);
        var m2 = values.sub(mean).square().sum([0]);
        var stats = heteroscedastic ? cat([mean, m2, y.narrow(2, width, width).exp().sum([0])], 1) : cat([mean, m2], 1);
        block.State.Accumulator.Merge(block.Count, MemoryMarshal.Cast<byte, double>(stats.cpu().contiguous().bytes));
    }

    /// <summary>
    /// The next chunk: for each unfinished request in order, its next samples (up to its next adaptive
    /// checkpoint) while they fit the row budget; a chunk always holds at least one sample.
    /// </summary>
    private List<Block> NextChunk(RequestState[] states)
    {
        var blocks = new List<Block>();
        long budget = ChunkRows;
        foreach (var state in states.Where(s => !s.Done))
        {
            if (state.Request.Cancellation.IsCancellationRequested)
            {
                state.Done = state.Cancelled = true;
                continue;
            }

            int available = state.Limit(options.AdaptiveCheckEvery) - state.Planned;
            long fit = budget / state.Request.Rows;
            if (fit == 0 && blocks.Count > 0)
            {
                break;
            }

            int take = (int)Math.Min(available, Math.Max(fit, 1));
            blocks.Add(new Block(state, state.Planned, take));
            state.Planned += take;
            budget -= (long)take * state.Request.Rows;
            if (budget <= 0)
            {
                break;
            }
        }

        return blocks;
    }

    /// <summary>
    /// The outputs as float32 on the host, read in place: TensorAccessor.ToArray copies element by element
    /// (2 ms for 100 K floats). The span is valid while the current dispose scope holds the host tensor.
    /// </summary>
    private static ReadOnlySpan<float> HostView(Tensor output) =>
        MemoryMarshal.Cast<byte, float>(output.to(ScalarType.Float32).cpu().contiguous().bytes);

    private McRequest Validate(McRequest request)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(request.Rows, 1, nameof(request.Rows));
        ArgumentOutOfRangeException.ThrowIfLessThan(request.Samples, 1, nameof(request.Samples));
        if (request.Inputs.Length != request.Rows * network.Spec.Inputs)
        {
            throw new ArgumentException($"Expected {request.Rows} x {network.Spec.Inputs} inputs, got {request.Inputs.Length} values.", nameof(request));
        }

        if (request.Tolerance is { } tolerance && !(tolerance > 0))
        {
            throw new ArgumentOutOfRangeException(nameof(request), tolerance, "The tolerance must be positive.");
        }

        if (request.KeepMixture && network.Spec.Head.Kind == HeadKind.Classification)
        {
            throw new ArgumentException("A predictive mixture (quantile intervals) needs a regression head.", nameof(request));
        }

        return request;
    }

    public void Dispose()
    {
        maskSource.Dispose();
        network.Dispose();
    }

    internal sealed class RequestState(McRequest request, HeadSpec head)
    {
        public McRequest Request { get; } = request;

        public SampleAccumulator Accumulator { get; } = new(head, request.Rows, request.ReturnSamples, request.KeepMixture);

        public int InputOffset { get; set; }

        public int Planned { get; set; }

        public bool Done { get; set; }

        public bool Cancelled { get; set; }

        /// <summary>How far this request may be planned before its results must be looked at: T, or the next adaptive checkpoint after <see cref="Planned"/>.</summary>
        public int Limit(int checkEvery) => Request.Tolerance is null
            ? Request.Samples
            : Math.Min(Request.Samples, ((Planned / checkEvery) + 1) * checkEvery);
    }

    internal sealed record Block(RequestState State, int First, int Count);
}
