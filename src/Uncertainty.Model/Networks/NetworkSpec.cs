using System.Text.Json;
using System.Text.Json.Serialization;

namespace Uncertainty.Model.Networks;

/// <summary>What the network predicts and how its outputs are read.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<HeadKind>))]
public enum HeadKind
{
    /// <summary>Mean per output; aleatoric noise is the fixed precision <see cref="HeadSpec.Tau"/>.</summary>
    Regression,

    /// <summary>Mean and log-variance per output: the noise is learnt per input.</summary>
    HeteroscedasticRegression,

    /// <summary>Softmax over <see cref="HeadSpec.Outputs"/> classes.</summary>
    Classification,
}

[JsonConverter(typeof(JsonStringEnumConverter<Activation>))]
public enum Activation
{
    Relu,
    Tanh,
    Gelu,
    Sigmoid,
    Elu,
    LeakyRelu,

    /// <summary>No non-linearity: a linear network, where weight scaling is the exact MC mean.</summary>
    Identity,
}

/// <summary>How dropout keeps expectations equal between training and deterministic prediction.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<DropoutKind>))]
public enum DropoutKind
{
    /// <summary>Kept units are scaled by 1/(1-p) when sampling; deterministic prediction is the identity.</summary>
    Inverted,

    /// <summary>Kept units are not scaled when sampling; deterministic prediction scales by (1-p).</summary>
    Standard,
}

[JsonConverter(typeof(JsonStringEnumConverter<Normalization>))]
public enum Normalization
{
    None,
    BatchNorm,
    LayerNorm,
}

/// <summary>The output layer.</summary>
public sealed record HeadSpec
{
    public HeadKind Kind { get; init; } = HeadKind.Regression;

    /// <summary>Number of regression targets, or of classes.</summary>
    public int Outputs { get; init; } = 1;

    /// <summary>Noise precision tau of <see cref="HeadKind.Regression"/>, in standardised target units: aleatoric variance is 1/tau.</summary>
    public double Tau { get; init; } = 1.0;
}

/// <summary>
/// A dropout MLP, serialisable as JSON: input dropout, then per hidden layer
/// Linear -> optional normalisation -> activation -> dropout, then the head's Linear.
/// </summary>
public sealed record NetworkSpec
{
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { WriteIndented = true };

    public required int Inputs { get; init; }

    public IReadOnlyList<int> Hidden { get; init; } = [50];

    public Activation Activation { get; init; } = Activation.Relu;

    /// <summary>Dropout rate on the inputs (0 = none); typical 0.1-0.2.</summary>
    public double InputDropout { get; init; }

    /// <summary>Dropout rate after each hidden layer: one value for all, or one per layer; typical 0.5 (0.05-0.1 for small regressors).</summary>
    public IReadOnlyList<double> HiddenDropout { get; init; } = [0.5];

    public DropoutKind DropoutKind { get; init; } = DropoutKind.Inverted;

    public Normalization Normalization { get; init; } = Normalization.None;

    public HeadSpec Head { get; init; } = new();

    /// <summary>Width of the network's last layer: outputs, twice that for a heteroscedastic head (mean and log-variance).</summary>
    public int HeadWidth => Head.Kind == HeadKind.HeteroscedasticRegression ? 2 * Head.Outputs : Head.Outputs;

    /// <summary>
    /// Trainable values the network allocates, from the spec alone: every Linear weight and bias, the head's included,
    /// and the scale and shift of each normalisation layer (BatchNorm's running statistics are buffers, not counted).
    /// For a valid spec; long.MaxValue when the true count does not fit, so a limit check never sees a wrapped-around number.
    /// </summary>
    [JsonIgnore]
    public long ParameterCount
    {
        get
        {
            // Saturating: an absurd spec from a request must compare as "too large", not overflow into a small number.
            long total = 0, width = Inputs;
            foreach (var hidden in Hidden)
            {
                total = SaturatingAdd(total, LinearParameters(width, hidden));
                if (Normalization != Normalization.None)
                {
                    total = SaturatingAdd(total, 2L * hidden); // weight and bias of BatchNorm1d / LayerNorm
                }

                width = hidden;
            }

            return SaturatingAdd(total, LinearParameters(width, HeadOutputs));
        }
    }

    /// <summary>
    /// The widest layer (inputs, any hidden layer, the head): one activation row of an MC chunk holds at most this many
    /// values, so rows x MaxWidth bounds a pass's activation memory. int.MaxValue if the head's width does not fit.
    /// </summary>
    [JsonIgnore]
    public int MaxWidth => (int)Math.Min(int.MaxValue, Math.Max(HeadOutputs, Math.Max(Inputs, Hidden.Count == 0 ? 0 : Hidden.Max())));

    /// <summary><see cref="HeadWidth"/> in long: twice an int can overflow it.</summary>
    private long HeadOutputs => Head.Kind == HeadKind.HeteroscedasticRegression ? 2L * Head.Outputs : Head.Outputs;

    /// <summary>The dropout rate after hidden layer <paramref name="layer"/>.</summary>
    public double HiddenDropoutAt(int layer) => HiddenDropout.Count == 1 ? HiddenDropout[0] : HiddenDropout[layer];

    /// <summary>Throws <see cref="ArgumentException"/> naming the first field that is out of range.</summary>
    public NetworkSpec Validate()
    {
        Require(Inputs >= 1, nameof(Inputs), "must be at least 1");
        Require(Hidden.Count >= 1, nameof(Hidden), "needs at least one hidden layer");
        Require(Hidden.All(width => width >= 1), nameof(Hidden), "widths must be at least 1");
        Require(HiddenDropout.Count == 1 || HiddenDropout.Count == Hidden.Count, nameof(HiddenDropout), $"needs one rate, or one per hidden layer ({Hidden.Count})");
        Require(ValidRate(InputDropout), nameof(InputDropout), "must be in [0, 1)");
        Require(HiddenDropout.All(ValidRate), nameof(HiddenDropout), "rates must be in [0, 1)");
        Require(Head.Outputs >= (Head.Kind == HeadKind.Classification ? 2 : 1), "head.outputs", "must be at least 1 (2 classes for classification)");
        Require(Head.Tau > 0 && double.IsFinite(Head.Tau), "head.tau", "must be a positive finite precision");
        Require(Enum.IsDefined(Activation), nameof(Activation), "is unknown");
        Require(Enum.IsDefined(DropoutKind), nameof(DropoutKind), "is unknown");
        Require(Enum.IsDefined(Normalization), nameof(Normalization), "is unknown");
        Require(Enum.IsDefined(Head.Kind), "head.kind", "is unknown");
        return this;
    }

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    public static NetworkSpec FromJson(string json) =>
        (JsonSerializer.Deserialize<NetworkSpec>(json, Json) ?? throw new ArgumentException("The network spec is empty.")).Validate();

    /// <summary>Weight and bias of a Linear layer (non-negative widths).</summary>
    private static long LinearParameters(long inputs, long outputs) => SaturatingAdd(SaturatingMultiply(inputs, outputs), outputs);

    private static long SaturatingAdd(long a, long b) => a > long.MaxValue - b ? long.MaxValue : a + b;

    private static long SaturatingMultiply(long a, long b) => a != 0 && b > long.MaxValue / a ? long.MaxValue : a * b;

    private static bool ValidRate(double p) => p >= 0 && p < 1 && double.IsFinite(p);

    private static void Require(bool condition, string field, string problem)
    {
        if (!condition)
        {
            throw new ArgumentException($"Network spec field '{JsonNamingPolicy.CamelCase.ConvertName(field)}' {problem}.", field);
        }
    }
}
