using TorchSharp;
using static TorchSharp.torch;

namespace Uncertainty.Model.Inference;

/// <summary>One prediction request in network space (inputs already standardised).</summary>
public sealed record McRequest
{
    /// <summary>Row-major inputs, <see cref="Rows"/> x the network's input width.</summary>
    public required float[] Inputs { get; init; }

    public required int Rows { get; init; }

    /// <summary>T, the number of MC samples; with <see cref="Tolerance"/>, the cap.</summary>
    public int Samples { get; init; } = 100;

    /// <summary>Seeds the request's dropout masks: the same seed gives the same masks, alone or merged.</summary>
    public ulong Seed { get; init; }

    /// <summary>Adaptive T: stop once every output's Monte Carlo standard error is at most this (network units).</summary>
    public double? Tolerance { get; init; }

    /// <summary>Keep every pass's output per row.</summary>
    public bool ReturnSamples { get; init; }

    /// <summary>
    /// Regression: keep every pass's means (and heteroscedastic noise) per row, in double, for the predictive mixture's
    /// quantiles (<see cref="RegressionPrediction.Mixture"/>): T x rows x outputs values (twice that heteroscedastic).
    /// </summary>
    public bool KeepMixture { get; init; }

    /// <summary>Once cancelled (e.g. the client went away), this request's remaining samples are skipped between chunks.</summary>
    public CancellationToken Cancellation { get; init; }
}

/// <summary>The arithmetic of the forward pass.</summary>
[System.Text.Json.Serialization.JsonConverter(typeof(Networks.CamelCaseEnumConverter<ComputePrecision>))]
public enum ComputePrecision
{
    /// <summary>IEEE float32 everywhere: the reference.</summary>
    Fp32,

    /// <summary>float32 storage, TF32 tensor-core matrix products (CUDA only; ~10-bit mantissa in the products). Process-wide in libtorch.</summary>
    Tf32,

    /// <summary>Weights and activations in bfloat16 (8-bit mantissa); statistics are still accumulated in double.</summary>
    Bf16,
}

/// <summary>How the predictor folds, chunks and shortcuts its work; apart from <see cref="Precision"/>, none of it changes the numbers.</summary>
public sealed record McOptions
{
    /// <summary>Reduced precision trades a little accuracy for speed on GPUs; float32 by default.</summary>
    public ComputePrecision Precision { get; init; } = ComputePrecision.Fp32;

    /// <summary>Memory budget of one chunk: activation rows x widest layer; null for <see cref="DefaultChunkElements"/>.</summary>
    public long? MaxChunkElements { get; init; }

    /// <summary>Run the layers before the first dropout once per input and share the result across samples.</summary>
    public bool UsePrefix { get; init; } = true;

    /// <summary>
    /// A regression request alone in a chunk with at least this many values (samples x rows) has its statistics
    /// reduced on the device; smaller ones stream every sample to the host. int.MaxValue turns the device path off,
    /// as does <see cref="Reproducible"/>.
    /// </summary>
    public int DeviceStatisticsMinValues { get; init; } = 4096;

    /// <summary>
    /// Bit-identical numbers for a request alone, merged or chunked (<see cref="McPredictor.Reproducible"/>). Null: on for the
    /// CPU when the backend runs MKL reproducibly (<see cref="Native.BackendInfo.Reproducibility"/> not Off), off on GPUs, whose
    /// BLAS picks kernels by shape. Costs a few padded rows per layer and the host-side statistics for large requests.
    /// </summary>
    public bool? Reproducible { get; init; }

    /// <summary>Adaptive T checks the standard error after every this many samples (also the minimum T).</summary>
    public int AdaptiveCheckEvery { get; init; } = 32;

    /// <summary>
    /// CPU: 4 M floats (16 MB per activation), under glibc's 32 MB ceiling for its dynamic mmap threshold, so
    /// activations are reused from the heap instead of being mapped and page-faulted in on every pass.
    /// GPU: 128 M floats (512 MB per activation): chunks there only bound memory, and every extra chunk costs
    /// launches and copies (B = 1024, T = 100 took 18 ms in 25 chunks of 4 M on an H200, against 6 ms for one pass in PyTorch).
    /// </summary>
    public static long DefaultChunkElements(Device device) => device.type == DeviceType.CUDA ? 128L << 20 : CpuChunkElements;

    /// <summary>The CPU default of <see cref="DefaultChunkElements"/>, the smallest: a spec whose widest layer fits it fits any device.</summary>
    public const long CpuChunkElements = 4L << 20;
}
