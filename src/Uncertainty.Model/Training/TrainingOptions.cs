using System.Text.Json.Serialization;
using Uncertainty.Model.Networks;

namespace Uncertainty.Model.Training;

[JsonConverter(typeof(CamelCaseEnumConverter<OptimizerKind>))]
public enum OptimizerKind
{
    /// <summary>SGD with (optionally Nesterov) momentum.</summary>
    Sgd,
    Adam,

    /// <summary>Adam with decoupled weight decay (Loshchilov and Hutter).</summary>
    AdamW,
}

[JsonConverter(typeof(CamelCaseEnumConverter<LearningRateSchedule>))]
public enum LearningRateSchedule
{
    Constant,

    /// <summary>Multiply by <see cref="TrainingOptions.StepGamma"/> every <see cref="TrainingOptions.StepEpochs"/> epochs.</summary>
    Step,

    /// <summary>Cosine annealing from the learning rate to <see cref="TrainingOptions.MinLearningRate"/> over the epochs.</summary>
    Cosine,
}

/// <summary>How Linear layers start.</summary>
[JsonConverter(typeof(CamelCaseEnumConverter<WeightInitialization>))]
public enum WeightInitialization
{
    /// <summary>PyTorch's default: weights and biases U(-1/sqrt(fan_in), 1/sqrt(fan_in)).</summary>
    Default,

    /// <summary>Keras's default: weights U(+-sqrt(6 / (fan_in + fan_out))) (Glorot and Bengio), biases 0.</summary>
    Glorot,
}

/// <summary>Label-preserving augmentation of small images (e.g. 8x8 digits), applied to raw pixels.</summary>
public sealed record ImageAugmentation
{
    /// <summary>Why this augmentation does not fit <paramref name="spec"/>'s input (an image network's H x W, or an MLP of H x W pixels); null when it does.</summary>
    public string? MismatchWith(NetworkSpec spec) => spec.IsImage
        ? Height == spec.InputShape![1] && Width == spec.InputShape[2] ? null : $"Augmentation of {Height}x{Width} images does not fit the network's {spec.InputShape[1]}x{spec.InputShape[2]} input."
        : (long)Height * Width == spec.Inputs ? null : $"Augmentation of {Height}x{Width} images needs {(long)Height * Width} inputs; the network takes {spec.Inputs}.";

    /// <summary>Image height in pixels (the network input's H).</summary>
    public required int Height { get; init; }

    /// <summary>Image width in pixels (the network input's W).</summary>
    public required int Width { get; init; }

    /// <summary>Random translation of up to this many pixels in each direction (vacated pixels become 0).</summary>
    public int MaxShift { get; init; } = 1;

    /// <summary>Random rotation about the image centre by up to this many degrees either way (batched augmentation only); 0 for none.</summary>
    public double MaxRotationDegrees { get; init; }

    /// <summary>Mirror left-right with probability 1/2; only where that preserves the label (not for digits).</summary>
    public bool HorizontalFlip { get; init; }

    /// <summary>Cutout (DeVries and Taylor): with this probability zero a square of <see cref="CutoutSize"/> pixels at a random centre.</summary>
    public double CutoutProbability { get; init; }

    /// <summary>Side of the cutout square in pixels.</summary>
    public int CutoutSize { get; init; } = 3;

    /// <summary>Random erasing (Zhong et al.): with this probability zero a rectangle of 2-33 % of the area, aspect 0.3-3.3.</summary>
    public double ErasingProbability { get; init; }
}

/// <summary>Everything that shapes training besides the data and the network; defaults follow common practice.</summary>
public sealed record TrainingOptions
{
    /// <summary>Passes over the training rows (default 40; at most Uncertainty:MaxTrainingEpochs).</summary>
    public int Epochs { get; init; } = 40;

    /// <summary>Rows per optimiser step (default 128).</summary>
    public int BatchSize { get; init; } = 128;

    /// <summary>Seeds the initial weights, the shuffling, the validation split, augmentation and dropout masks: same seed and data, same weights.</summary>
    public ulong Seed { get; init; }

    /// <summary>How Linear layers start: default (PyTorch) or glorot (Keras).</summary>
    public WeightInitialization Initialization { get; init; } = WeightInitialization.Default;

    /// <summary>sgd, adam (default) or adamW.</summary>
    public OptimizerKind Optimizer { get; init; } = OptimizerKind.Adam;

    /// <summary>The optimiser's step size (default 0.001).</summary>
    public double LearningRate { get; init; } = 1e-3;

    /// <summary>SGD momentum.</summary>
    public double Momentum { get; init; } = 0.9;

    /// <summary>SGD: Nesterov momentum.</summary>
    public bool Nesterov { get; init; }

    /// <summary>constant (default), step (multiply by stepGamma every stepEpochs) or cosine (anneal to minLearningRate).</summary>
    public LearningRateSchedule Schedule { get; init; } = LearningRateSchedule.Constant;

    /// <summary>step schedule: epochs between learning-rate drops (default 30).</summary>
    public int StepEpochs { get; init; } = 30;

    /// <summary>step schedule: the factor of each drop (default 0.1).</summary>
    public double StepGamma { get; init; } = 0.1;

    /// <summary>cosine schedule: the learning rate reached at the last epoch (default 0).</summary>
    public double MinLearningRate { get; init; }

    /// <summary>
    /// Weight decay lambda on Linear weights (not biases or normalisation parameters), as a gradient term
    /// lambda * w: coupled (an L2 penalty lambda/2 |w|^2 in the loss) for SGD and Adam, decoupled
    /// (w -= lr * lambda * w, outside the adaptive step) for AdamW or when <see cref="DecoupledWeightDecay"/> is set.
    /// </summary>
    public double WeightDecay { get; init; }

    /// <summary>Apply weight decay outside the adaptive step (AdamW style) with any optimiser.</summary>
    public bool DecoupledWeightDecay { get; init; }

    /// <summary>
    /// Derive the weight decay from a prior length-scale l (Gal and Ghahramani 2016):
    /// lambda = l^2 (1 - p) / (2 N tau) per unit of |w|^2 in the loss, with p the hidden dropout rate,
    /// N the training rows and tau the head's noise precision. Overrides <see cref="WeightDecay"/>.
    /// </summary>
    public double? PriorLengthScale { get; init; }

    /// <summary>Max-norm constraint: after each step every unit's incoming weight vector is rescaled to norm at most this (Srivastava et al. used 3-4).</summary>
    public double? MaxNorm { get; init; }

    /// <summary>Share of the training rows held out for validation (progress metrics and early stopping); 0 for none.</summary>
    public double ValidationFraction { get; init; }

    /// <summary>Stop after this many epochs without a better validation loss and restore the best epoch's weights; null to run all epochs.</summary>
    public int? Patience { get; init; }

    /// <summary>Label smoothing a: targets (1 - a) y + a / K (classification).</summary>
    public double LabelSmoothing { get; init; }

    /// <summary>Mixup alpha: each batch is mixed with a shuffled copy of itself, lambda ~ Beta(alpha, alpha); 0 for none.</summary>
    public double MixupAlpha { get; init; }

    /// <summary>Standard deviation of Gaussian noise added to the standardised inputs (tabular augmentation); 0 for none.</summary>
    public double InputNoise { get; init; }

    /// <summary>Augmentation of small images (translation, rotation, flips, cutout, erasing); null for none.</summary>
    public ImageAugmentation? Image { get; init; }

    /// <summary>Throws <see cref="ArgumentException"/> naming the first option out of range.</summary>
    /// <summary>
    /// Why these options do not fit <paramref name="spec"/>; null when they do. Token ids are labels, not quantities: input
    /// noise and mixup would train on ids that are no word, and image augmentation needs a picture.
    /// </summary>
    public string? MismatchWith(NetworkSpec spec) =>
        spec.IsTokenSequence && InputNoise > 0 ? "Input noise does not apply to token ids (an embedding network's inputs); use the embedding's wordDropout."
        : spec.IsTokenSequence && MixupAlpha > 0 ? "Mixup does not apply to token ids (an embedding network's inputs)."
        : Image?.MismatchWith(spec);

    public TrainingOptions Validate()
    {
        Require(Epochs >= 1, nameof(Epochs), "must be at least 1");
        Require(BatchSize >= 1, nameof(BatchSize), "must be at least 1");
        Require(LearningRate > 0 && double.IsFinite(LearningRate), nameof(LearningRate), "must be positive");
        Require(Momentum >= 0 && Momentum < 1, nameof(Momentum), "must be in [0, 1)");
        Require(StepEpochs >= 1, nameof(StepEpochs), "must be at least 1");
        Require(StepGamma > 0 && StepGamma <= 1, nameof(StepGamma), "must be in (0, 1]");
        Require(MinLearningRate >= 0 && MinLearningRate <= LearningRate, nameof(MinLearningRate), "must be in [0, learningRate]");
        Require(WeightDecay >= 0 && double.IsFinite(WeightDecay), nameof(WeightDecay), "must be non-negative");
        Require(PriorLengthScale is null or > 0, nameof(PriorLengthScale), "must be positive");
        Require(MaxNorm is null or > 0, nameof(MaxNorm), "must be positive");
        Require(ValidationFraction >= 0 && ValidationFraction < 1, nameof(ValidationFraction), "must be in [0, 1)");
        Require(Patience is null or >= 1, nameof(Patience), "must be at least 1");
        Require(Patience is null || ValidationFraction > 0, nameof(Patience), "needs a validationFraction above 0");
        Require(LabelSmoothing >= 0 && LabelSmoothing < 1, nameof(LabelSmoothing), "must be in [0, 1)");
        Require(MixupAlpha >= 0 && double.IsFinite(MixupAlpha), nameof(MixupAlpha), "must be non-negative");
        Require(InputNoise >= 0 && double.IsFinite(InputNoise), nameof(InputNoise), "must be non-negative");
        if (Image is { } image)
        {
            Require(image.Height >= 1 && image.Width >= 1, "image", "needs a positive height and width");
            Require(image.MaxShift >= 0, "image.maxShift", "must be non-negative");
            Require(image.MaxRotationDegrees is >= 0 and <= 180, "image.maxRotationDegrees", "must be in [0, 180]");
            Require(image.CutoutProbability is >= 0 and <= 1, "image.cutoutProbability", "must be in [0, 1]");
            Require(image.ErasingProbability is >= 0 and <= 1, "image.erasingProbability", "must be in [0, 1]");
            Require(image.CutoutSize >= 1, "image.cutoutSize", "must be at least 1");
        }

        return this;
    }

    private static void Require(bool condition, string field, string problem)
    {
        if (!condition)
        {
            throw new ArgumentException($"Training option '{System.Text.Json.JsonNamingPolicy.CamelCase.ConvertName(field)}' {problem}.", field);
        }
    }
}
