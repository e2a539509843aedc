using System.Text.Json;
using System.Text.Json.Serialization;

namespace Uncertainty.Model.Networks;

/// <summary>What the network predicts and how its outputs are read.</summary>
[JsonConverter(typeof(CamelCaseEnumConverter<HeadKind>))]
public enum HeadKind
{
    /// <summary>Mean per output; aleatoric noise is the fixed precision <see cref="HeadSpec.Tau"/>.</summary>
    Regression,

    /// <summary>Mean and log-variance per output: the noise is learnt per input.</summary>
    HeteroscedasticRegression,

    /// <summary>Softmax over <see cref="HeadSpec.Outputs"/> classes.</summary>
    Classification,
}

[JsonConverter(typeof(CamelCaseEnumConverter<Activation>))]
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
[JsonConverter(typeof(CamelCaseEnumConverter<DropoutKind>))]
public enum DropoutKind
{
    /// <summary>Kept units are scaled by 1/(1-p) when sampling; deterministic prediction is the identity.</summary>
    Inverted,

    /// <summary>Kept units are not scaled when sampling; deterministic prediction scales by (1-p).</summary>
    Standard,
}

public static class DropoutKindExtensions
{
    /// <summary>What a kept unit is multiplied by while sampling at rate <paramref name="p"/>: 1/(1-p) for inverted dropout, 1 for standard.</summary>
    public static double KeptScale(this DropoutKind kind, double p) => kind == DropoutKind.Inverted ? 1 / (1 - p) : 1;
}

[JsonConverter(typeof(CamelCaseEnumConverter<Normalization>))]
public enum Normalization
{
    None,
    BatchNorm,
    LayerNorm,
}

/// <summary>The output layer.</summary>
public sealed record HeadSpec
{
    /// <summary>regression (fixed noise precision tau), heteroscedasticRegression (learnt noise per input) or classification (softmax).</summary>
    public HeadKind Kind { get; init; } = HeadKind.Regression;

    /// <summary>Number of regression targets, or of classes.</summary>
    public int Outputs { get; init; } = 1;

    /// <summary>Noise precision tau of <see cref="HeadKind.Regression"/>, in standardised target units: aleatoric variance is 1/tau.</summary>
    public double Tau { get; init; } = 1.0;
}

/// <summary>
/// A dropout network, serialisable as JSON: either a list of <see cref="Layers"/> over an <see cref="InputShape"/>, or the MLP
/// shorthand (<see cref="Inputs"/>, <see cref="Hidden"/>, ...), which is sugar for the list input dropout, then per hidden layer
/// linear -> optional normalisation -> activation -> dropout, then the head's linear layer (<see cref="ResolvedLayers"/>).
/// </summary>
public sealed record NetworkSpec
{
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { WriteIndented = true };

    private readonly int inputs;

    /// <summary>Values per input row: the MLP's input width, or the product of <see cref="InputShape"/>.</summary>
    public int Inputs
    {
        get => InputShape is { Count: > 0 } shape && inputs == 0 ? (int)Math.Min(int.MaxValue, LayerShape.Values(shape)) : inputs;
        init => inputs = value;
    }

    /// <summary>Per-row input shape of a layer list: [features] for tabular rows, [channels, height, width] for images.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public IReadOnlyList<int>? InputShape { get; init; }

    /// <summary>The network as a list of layers (docs/layers.md); null for the MLP shorthand.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public IReadOnlyList<LayerSpec>? Layers { get; init; }

    /// <summary>MLP shorthand: hidden layer widths (default one layer of 50).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public IReadOnlyList<int>? Hidden { get; init; }

    /// <summary>MLP shorthand: the hidden activation (default relu).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public Activation Activation { get; init; } = Activation.Relu;

    /// <summary>MLP shorthand: dropout rate on the inputs (0 = none); typical 0.1-0.2.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public double InputDropout { get; init; }

    /// <summary>MLP shorthand: dropout rate after each hidden layer: one value for all, or one per layer; typical 0.5 (0.05-0.1 for small regressors).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public IReadOnlyList<double>? HiddenDropout { get; init; }

    /// <summary>inverted (kept units scaled by 1/(1-p) when sampling; the default) or standard (deterministic prediction scales by 1-p).</summary>
    public DropoutKind DropoutKind { get; init; } = DropoutKind.Inverted;

    /// <summary>MLP shorthand: normalisation after each hidden linear layer: none (default), batchNorm or layerNorm.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public Normalization Normalization { get; init; } = Normalization.None;

    /// <summary>The output layer: task, number of outputs and noise precision.</summary>
    public HeadSpec Head { get; init; } = new();

    /// <summary>Width of the network's last layer: outputs, twice that for a heteroscedastic head (mean and log-variance).</summary>
    public int HeadWidth => (int)Math.Min(int.MaxValue, Head.Kind == HeadKind.HeteroscedasticRegression ? 2L * Head.Outputs : Head.Outputs);

    /// <summary>The MLP shorthand's hidden widths with their default.</summary>
    [JsonIgnore]
    public IReadOnlyList<int> HiddenWidths => Hidden ?? [50];

    /// <summary>True for a layer list over a [channels, height, width] input.</summary>
    [JsonIgnore]
    public bool IsImage => InputShape is { Count: 3 };

    /// <summary>
    /// True when a layer reads which steps of a sequence are valid: rows are then sequences of up to L steps, padded at the
    /// end (token id 0 for [L] token ids, steps of NaN for [L, F] values).
    /// </summary>
    [JsonIgnore]
    public bool IsSequence => Layers is not null && Layers.Any(layer => layer?.IsSequenceLayer == true);

    /// <summary>True for a sequence of token ids ([L], read by an embedding first layer).</summary>
    [JsonIgnore]
    public bool IsTokenSequence => Layers is { Count: > 0 } layers && layers[0]?.Type == LayerType.Embedding;

    /// <summary>The per-row input shape: <see cref="InputShape"/>, or [inputs] for the MLP shorthand.</summary>
    [JsonIgnore]
    public IReadOnlyList<int> ResolvedInputShape => Layers is null ? [Inputs] : InputShape ?? [Inputs];

    /// <summary>The layer list this spec describes; the MLP shorthand expanded (dropout layers only where the rate is positive).</summary>
    [JsonIgnore]
    public IReadOnlyList<LayerSpec> ResolvedLayers => Layers ?? ShorthandLayers();

    /// <summary>Every layer with its per-row shapes. Throws <see cref="ArgumentException"/> naming the first layer that does not fit.</summary>
    public IReadOnlyList<LayerShape> Shapes() => LayerShapes.Infer(ResolvedInputShape, ResolvedLayers);

    /// <summary>
    /// Trainable values the network allocates, from the spec alone: every linear and convolution weight and bias, the head's
    /// included, and the scale and shift of each normalisation layer (BatchNorm's running statistics are buffers, not counted).
    /// For a valid spec; long.MaxValue when the true count does not fit, so a limit check never sees a wrapped-around number.
    /// </summary>
    [JsonIgnore]
    public long ParameterCount => Shapes().Aggregate(0L, (total, layer) => LayerShape.Add(total, layer.Parameters));

    /// <summary>
    /// The widest activation (the input, any layer's output, or what a layer holds inside, such as attention scores), in values per row: one activation row of an MC chunk holds at
    /// most this many values, so rows x MaxWidth bounds a pass's activation memory. int.MaxValue if it does not fit.
    /// </summary>
    [JsonIgnore]
    public int MaxWidth => (int)Math.Min(int.MaxValue, Shapes().Aggregate(LayerShape.Values(ResolvedInputShape), (widest, layer) => Math.Max(widest, layer.WorkingValues)));

    /// <summary>Multiply-adds of one row's forward pass (linear and convolution layers; the rest is linear in their outputs); saturating.</summary>
    [JsonIgnore]
    public long MultiplyAddsPerRow => Shapes().Aggregate(0L, (total, layer) => LayerShape.Add(total, layer.MultiplyAdds));

    /// <summary>Values one row keeps across a training step's forward pass (the input and every layer's output), for backward; saturating.</summary>
    [JsonIgnore]
    public long ActivationValuesPerRow => Shapes().Aggregate(LayerShape.Values(ResolvedInputShape), (total, layer) => LayerShape.Add(total, layer.TrainingValues));

    /// <summary>The dropout rate after hidden layer <paramref name="layer"/> of the MLP shorthand.</summary>
    public double HiddenDropoutAt(int layer) => (HiddenDropout ?? [0.5]) is var rates && rates.Count == 1 ? rates[0] : rates[layer];

    /// <summary>The rate of the first dropout layer after a weight layer (Gal's prior-derived weight decay uses it); 0 when there is none.</summary>
    [JsonIgnore]
    public double FirstHiddenDropout =>
        ResolvedLayers.SkipWhile(layer => layer.Type is not (LayerType.Linear or LayerType.Conv2d)).FirstOrDefault(layer => layer.IsDropout)?.Rate ?? 0;

    /// <summary>Throws <see cref="ArgumentException"/> naming the first field that is out of range.</summary>
    public NetworkSpec Validate()
    {
        Require(Head is not null, nameof(Head), "is missing");
        Require(Head!.Outputs >= (Head.Kind == HeadKind.Classification ? 2 : 1), "head.outputs", "must be at least 1 (2 classes for classification)");
        Require(Head.Outputs <= int.MaxValue / 2, "head.outputs", "must be below 2^30");
        Require(Head.Tau > 0 && double.IsFinite(Head.Tau), "head.tau", "must be a positive finite precision");
        Require(Enum.IsDefined(Head.Kind), "head.kind", "is unknown");
        Require(Enum.IsDefined(DropoutKind), nameof(DropoutKind), "is unknown");
        if (Layers is not null)
        {
            Require(Hidden is null && HiddenDropout is null && InputDropout == 0 && Activation == Activation.Relu && Normalization == Normalization.None,
                nameof(Layers), "replaces the MLP shorthand (hidden, hiddenDropout, inputDropout, activation, normalization): give one or the other");
            Require(InputShape is { Count: >= 1 and <= 3 }, nameof(InputShape), "needs 1 to 3 extents ([features], [length] token ids, [length, features] or [channels, height, width]) with a layer list");
            Require(InputShape!.All(extent => extent >= 1), nameof(InputShape), "extents must be at least 1");
            Require(LayerShape.Values(InputShape!) <= int.MaxValue, nameof(InputShape), "holds more than 2^31 values");
            long values = LayerShape.Values(InputShape!);
            Require(inputs == 0 || inputs == values, nameof(Inputs), $"({inputs}) does not match inputShape [{string.Join(", ", InputShape!)}] ({values} values)");
            Require(Layers.Count >= 1, nameof(Layers), "needs at least one layer");
        }
        else
        {
            Require(InputShape is null, nameof(InputShape), "needs a layer list ('layers'); the MLP shorthand takes 'inputs'");
            Require(Inputs >= 1, nameof(Inputs), "must be at least 1");
            Require(HiddenWidths.Count >= 1, nameof(Hidden), "needs at least one hidden layer");
            Require(HiddenWidths.All(width => width >= 1), nameof(Hidden), "widths must be at least 1");
            var rates = HiddenDropout ?? [0.5];
            Require(rates.Count == 1 || rates.Count == HiddenWidths.Count, nameof(HiddenDropout), $"needs one rate, or one per hidden layer ({HiddenWidths.Count})");
            Require(ValidRate(InputDropout), nameof(InputDropout), "must be in [0, 1)");
            Require(rates.All(ValidRate), nameof(HiddenDropout), "rates must be in [0, 1)");
            Require(Enum.IsDefined(Activation), nameof(Activation), "is unknown");
            Require(Enum.IsDefined(Normalization), nameof(Normalization), "is unknown");
        }

        var last = Shapes()[^1].Output;
        Require(last.Length == 1 && last[0] == HeadWidth, nameof(Layers),
            $"must end in [{HeadWidth}] values per row for a {Head.Kind} head with {Head.Outputs} output(s), not [{string.Join(", ", last)}] (end with flatten and a linear layer of that width)");
        return this;
    }

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    public static NetworkSpec FromJson(string json) =>
        (JsonSerializer.Deserialize<NetworkSpec>(json, Json) ?? throw new ArgumentException("The network spec is empty.")).Validate();

    private List<LayerSpec> ShorthandLayers()
    {
        var layers = new List<LayerSpec>();
        void AddDropout(double p)
        {
            if (p > 0)
            {
                layers.Add(LayerSpec.DropoutOf(p));
            }
        }

        AddDropout(InputDropout);
        for (int i = 0; i < HiddenWidths.Count; i++)
        {
            layers.Add(LayerSpec.LinearTo(HiddenWidths[i]));
            switch (Normalization)
            {
                case Normalization.BatchNorm:
                    layers.Add(LayerSpec.Of(LayerType.BatchNorm1d));
                    break;
                case Normalization.LayerNorm:
                    layers.Add(LayerSpec.Of(LayerType.LayerNorm));
                    break;
            }

            layers.Add(LayerSpec.Of(ActivationLayer(Activation)));
            AddDropout(HiddenDropoutAt(i));
        }

        layers.Add(LayerSpec.LinearTo(HeadWidth));
        return layers;
    }

    private static LayerType ActivationLayer(Activation activation) => activation switch
    {
        Activation.Relu => LayerType.Relu,
        Activation.Tanh => LayerType.Tanh,
        Activation.Gelu => LayerType.Gelu,
        Activation.Sigmoid => LayerType.Sigmoid,
        Activation.Elu => LayerType.Elu,
        Activation.LeakyRelu => LayerType.LeakyRelu,
        _ => LayerType.Identity,
    };

    private static bool ValidRate(double p) => p >= 0 && p < 1 && double.IsFinite(p);

    private static void Require(bool condition, string field, string problem)
    {
        if (!condition)
        {
            throw new ArgumentException($"Network spec field '{JsonNamingPolicy.CamelCase.ConvertName(field)}' {problem}.", field);
        }
    }
}
