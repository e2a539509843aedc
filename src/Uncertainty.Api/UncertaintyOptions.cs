using System.ComponentModel.DataAnnotations;

namespace Uncertainty.Api;

/// <summary>The service's settings (section "Uncertainty"); validated at start so a bad value stops start-up with its name.</summary>
public sealed class UncertaintyOptions : IValidatableObject
{
    public const string Section = "Uncertainty";

    /// <summary>The gRPC port's default (<see cref="GrpcPort"/>).</summary>
    public const int DefaultGrpcPort = 8081;

    /// <summary>Directory of model packages: {store}/{name}/{version}/manifest.json. Relative paths are under the content root.</summary>
    [Required]
    public string ModelStore { get; set; } = "models";

    /// <summary>auto, cpu or cuda.</summary>
    [Required]
    [RegularExpression("^(?i)(auto|cpu|cuda)$", ErrorMessage = "Device must be auto, cpu or cuda.")]
    public string Device { get; set; } = "auto";

    /// <summary>
    /// CPU reproducibility: auto (the default when unset, or UNCERTAINTY_CPU_REPRODUCIBILITY: the same request and
    /// seed give bit-identical numbers alone or merged, and the same seed bit-identical trained weights, at about no
    /// cost), strict, or off. An MKL_CBWR set in the environment wins.
    /// </summary>
    [RegularExpression("^(?i)(off|auto|strict)$", ErrorMessage = "CpuReproducibility must be off, auto or strict.")]
    public string? CpuReproducibility { get; set; }

    /// <summary>A host libtorch directory (e.g. PyTorch's torch/lib) to use instead of the bundled CPU natives.</summary>
    public string? LibTorchDirectory { get; set; }

    /// <summary>The model POST /predict uses.</summary>
    [Required]
    [RegularExpression(@"^[a-z0-9][a-z0-9._-]{0,63}$", ErrorMessage = "DefaultModel must match ^[a-z0-9][a-z0-9._-]{{0,63}}$." /* a format string: {0} is the field name */)]
    public string DefaultModel { get; set; } = "boston";

    /// <summary>
    /// Port of the Open Inference Protocol's gRPC service (HTTP/2 only, every address); 0 turns it off. The HTTP endpoints
    /// stay what ASPNETCORE_URLS / --urls say (see Hosting/Listeners.cs).
    /// </summary>
    [Range(0, 65535)]
    public int GrpcPort { get; set; } = DefaultGrpcPort;

    [Range(1, 1_000_000)]
    public int MaxSamples { get; set; } = 10_000;

    [Range(1, 1_000_000)]
    public int MaxRowsPerRequest { get; set; } = 1_000;

    /// <summary>Requests waiting for the inference thread; one more is refused at once with 429 and Retry-After.</summary>
    [Range(1, 1_000_000)]
    public int QueueCapacity { get; set; } = 256;

    /// <summary>Merge requests that arrive together into one forward pass (dynamic batching).</summary>
    public bool DynamicBatching { get; set; } = true;

    /// <summary>How long the inference thread waits for more requests to merge when requests queued behind a pass; a request that finds it idle runs at once.</summary>
    [Range(0, 1000)]
    public double BatchDelayMilliseconds { get; set; } = 1;

    /// <summary>Row budget of one merged pass: the sum over requests of samples x rows.</summary>
    [Range(1, int.MaxValue)]
    public int MaxBatchRows { get; set; } = 65_536;

    /// <summary>A prediction not answered within this time gets 504 and its remaining work is dropped.</summary>
    [Range(0.01, 3600)]
    public double RequestTimeoutSeconds { get; set; } = 30;

    /// <summary>Arithmetic of the forward passes: Fp32 (default), Tf32 (CUDA tensor cores) or Bf16.</summary>
    public Uncertainty.Model.Inference.ComputePrecision Precision { get; set; } = Uncertainty.Model.Inference.ComputePrecision.Fp32;

    /// <summary>Memory budget of one MC chunk (activation rows x widest layer); unset for the device's default.</summary>
    [Range(1024, long.MaxValue)]
    public long? MaxChunkElements { get; set; }

    /// <summary>Largest network the service allocates (weights and biases): larger specs are refused with 422 before any allocation.</summary>
    [Range(1, long.MaxValue)]
    public long MaxParameters { get; set; } = 20_000_000;

    /// <summary>
    /// Compute of one input row's forward pass (multiply-adds of the linear and convolution layers): a convolution stack over
    /// large feature maps can be small in parameters yet take minutes per row. Refused with 422 at import and training.
    /// 2 G is about a ResNet-50 at 224 x 224 (4 G) halved; LeNet on MNIST is 4 M.
    /// </summary>
    [Range(1, long.MaxValue)]
    public long MaxMultiplyAddsPerRow { get; set; } = 2_000_000_000;

    /// <summary>
    /// Activation values one training batch keeps for the backward pass (batch size x every layer's output per row):
    /// 256 M float32 values is 1 GiB, about as much again for their gradients. Refused with 422 when a job is submitted.
    /// </summary>
    [Range(1, long.MaxValue)]
    public long MaxTrainingActivationValues { get; set; } = 256L << 20;

    /// <summary>Memory for loaded model weights; beyond it the least recently used versions no request holds are unloaded.</summary>
    [Range(1024, long.MaxValue)]
    public long ModelMemoryBytes { get; set; } = 2L << 30;

    /// <summary>returnSamples responses hold at most this many values (rows x samples x outputs).</summary>
    [Range(1, 100_000_000)]
    public long MaxReturnedSampleValues { get; set; } = 1_000_000;

    /// <summary>
    /// Quantile intervals keep every pass's mean (and heteroscedastic noise) per row and output, in double, until the
    /// request's summary, and each quantile costs about ten evaluations of the T-component mixture's CDF: samples x rows x
    /// outputs at most this (1 M: 8 MB, 16 MB heteroscedastic, and about 2 s of one core); more is refused with 400.
    /// </summary>
    [Range(1, 1_000_000_000)]
    public long MaxQuantileIntervalValues { get; set; } = 1_000_000;

    /// <summary>An evaluation not finished within this time gets 504 and its remaining work is dropped.</summary>
    [Range(0.01, 86_400)]
    public double EvaluationTimeoutSeconds { get; set; } = 300;

    /// <summary>On SIGTERM, how long readiness reports 503 (and responses close their connections) before the listener stops.</summary>
    [Range(0, 300)]
    public double DrainSeconds { get; set; } = 5;

    /// <summary>Console log format: text for people, json (one object per line) for log collectors in containers.</summary>
    [RegularExpression("^(?i)(text|json)$", ErrorMessage = "LogFormat must be text or json.")]
    public string LogFormat { get; set; } = "text";

    /// <summary>Labelled rows one evaluation may score (it runs on the inference thread).</summary>
    [Range(1, 10_000_000)]
    public int MaxEvaluationRows { get; set; } = 20_000;

    /// <summary>
    /// This replica only reads the model store, which one writer shares with it: it trains no built-in models
    /// (it waits for the default model to appear), runs no training jobs and refuses store writes with 403.
    /// </summary>
    public bool ReadOnlyStore { get; set; }

    /// <summary>Directory of training jobs; unset for ".jobs" inside the model store.</summary>
    public string? JobStore { get; set; }

    [Range(1, 64)]
    public int MaxConcurrentTrainingJobs { get; set; } = 1;

    /// <summary>Training jobs that may wait; one more is refused with 429.</summary>
    [Range(1, 10_000)]
    public int MaxQueuedTrainingJobs { get; set; } = 16;

    [Range(1, 1_000_000)]
    public int MaxTrainingEpochs { get; set; } = 20_000;

    /// <summary>
    /// Administration keys, accepted in the X-Api-Key header. When any key is set, every endpoint that changes
    /// state (training, import, default version, delete) needs an administration key: 401 without a key, 403
    /// with any other. An administration key may also predict and evaluate.
    /// </summary>
    public List<string> ApiKeys { get; set; } = [];

    /// <summary>Inference keys: they may predict and evaluate, never administer.</summary>
    public List<string> InferenceApiKeys { get; set; } = [];

    /// <summary>The administration keys that are set: an empty entry (an unset environment variable in a compose file) is no key.</summary>
    public IEnumerable<string> ConfiguredApiKeys => ApiKeys.Where(key => !string.IsNullOrEmpty(key));

    /// <summary>The inference keys that are set.</summary>
    public IEnumerable<string> ConfiguredInferenceApiKeys => InferenceApiKeys.Where(key => !string.IsNullOrEmpty(key));

    /// <summary>Any key at all is configured: evaluation then needs a key, and so does everything that writes.</summary>
    public bool KeysConfigured => ConfiguredApiKeys.Any() || ConfiguredInferenceApiKeys.Any();

    /// <summary>Also require a key for predictions (reads of models and jobs stay open).</summary>
    public bool RequireApiKeyForInference { get; set; }

    /// <summary>Requests per minute per API key (or per client address without one); 0 turns rate limiting off.</summary>
    [Range(0, 10_000_000)]
    public int RateLimitPerMinute { get; set; }

    /// <summary>Largest JSON body; larger ones get 413.</summary>
    [Range(1024, long.MaxValue)]
    public long MaxRequestBodyBytes { get; set; } = 4 * 1024 * 1024;

    /// <summary>Largest upload (training data, evaluation data, imported weights); larger ones get 413.</summary>
    [Range(1024, long.MaxValue)]
    public long MaxUploadBytes { get; set; } = 64 * 1024 * 1024;

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (LibTorchDirectory is { Length: > 0 } directory && !Directory.Exists(directory))
        {
            yield return new ValidationResult($"LibTorchDirectory '{directory}' does not exist.", [nameof(LibTorchDirectory)]);
        }

        if (ConfiguredApiKeys.Concat(ConfiguredInferenceApiKeys).Any(key => key.Length < 16))
        {
            yield return new ValidationResult("ApiKeys and InferenceApiKeys must each be at least 16 characters (use a random secret, e.g. openssl rand -hex 32).", [nameof(ApiKeys)]);
        }

        if (RequireApiKeyForInference && !KeysConfigured)
        {
            yield return new ValidationResult("RequireApiKeyForInference needs at least one key in ApiKeys or InferenceApiKeys.", [nameof(RequireApiKeyForInference)]);
        }

        if (ConfiguredInferenceApiKeys.Any() && !ConfiguredApiKeys.Any())
        {
            yield return new ValidationResult("InferenceApiKeys need at least one administration key in ApiKeys (otherwise administration would be open while inference is not).", [nameof(InferenceApiKeys)]);
        }

        if (MaxUploadBytes < MaxRequestBodyBytes)
        {
            yield return new ValidationResult("MaxUploadBytes must be at least MaxRequestBodyBytes.", [nameof(MaxUploadBytes)]);
        }
    }
}
