using System.Text.Json.Serialization;
using Uncertainty.Model.Data;
using Uncertainty.Model.Networks;
using Uncertainty.Model.Training;

namespace Uncertainty.Api.Training;

/// <summary>A training job's state: queued, running, then succeeded, failed or cancelled.</summary>
[JsonConverter(typeof(CamelCaseEnumConverter<JobState>))]
public enum JobState
{
    Queued,
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

/// <summary>
/// POST /training-jobs body. The data is a bundled dataset (<see cref="Dataset"/>) or CSV text with a header
/// (<see cref="Csv"/>, or a multipart upload: part "data" the file, part "request" this JSON).
/// </summary>
/// <param name="Model">The model the trained network becomes a new version of.</param>
/// <param name="Dataset">A bundled dataset (boston, concrete, breast_cancer, digits), an image set of the data cache (mnist, fashion-mnist), or a sequence set of the data cache: spam-assassin (a text classifier, its tokenizer built on a seeded 80 % of each message group) or us-births (a daily forecaster trained on 1969-1986).</param>
/// <param name="Csv">CSV text with a header row, instead of a bundled dataset.</param>
/// <param name="Target">Target column by name or 0-based index; the dataset's own target when omitted.</param>
/// <param name="Features">Feature columns; every other column when omitted.</param>
/// <param name="Task">regression or classification; inferred from the target when omitted.</param>
/// <param name="Network">The dropout network; its input and output widths come from the data.</param>
/// <param name="Training">Optimiser, schedule, regularisation and augmentation.</param>
/// <param name="MakeDefault">Make the new version the model's default once trained (it is loaded and checked first). A model's first version is its default either way.</param>
/// <param name="ReplaceSchema">Allow a version whose task, inputs or outputs differ from the model's current default (otherwise 409).</param>
/// <param name="Description">Stored with the model version.</param>
/// <param name="MaxVocabulary">spam-assassin: the most frequent training words kept (default 20,000).</param>
/// <param name="Horizon">us-births: days forecast from each origin (default 28).</param>
/// <param name="TestFraction">Hold out a seeded random share of the rows (seed: training.seed), never trained on; the version records them, and POST /models/{name}/evaluate on the same data scores them by default. None when omitted (an image set's own test split is held out either way).</param>
/// <param name="Tune">Choose the dropout rate and tau from a grid by validation MC log-likelihood before training (Gal and Ghahramani's protocol; regression MLPs of the shorthand): every point trains at once as one stacked network, and the best is trained on all rows. GET /models/{name} reports the grid's scores as tuning. The job's progress shows the grid's epochs (the mean loss of its points), then the final training's from epoch 1. A tabular regression job whose network states no dropout rate and no tau tunes on the default grid when the grid can run within the service's limits (scored with at most 1,000 samples, fewer for large data: validation rows x samples at most 10 million); stating a rate or tau trains just that network.</param>
public sealed record TrainingJobRequest(
    string? Model,
    string? Dataset = null,
    string? Csv = null,
    string? Target = null,
    IReadOnlyList<string>? Features = null,
    TaskKind? Task = null,
    NetworkRequest? Network = null,
    TrainingOptions? Training = null,
    bool MakeDefault = false,
    string? Description = null,
    bool ReplaceSchema = false,
    int? MaxVocabulary = null,
    int? Horizon = null,
    double? TestFraction = null,
    TuneOptions? Tune = null);

/// <summary>
/// The dropout network as a training request states it: a list of layers over an input shape (docs/layers.md), or the MLP
/// shorthand below. The MLP's input and output widths come from the data; a layer list's last layer must fit the head.
/// </summary>
public sealed record NetworkRequest
{
    /// <summary>Per-row input shape of <see cref="Layers"/>: [channels, height, width] for images; the data's width when omitted.</summary>
    public IReadOnlyList<int>? InputShape { get; init; }

    /// <summary>The network as a list of layers; replaces the MLP fields (hidden, activation, dropout rates, normalization).</summary>
    public IReadOnlyList<LayerSpec>? Layers { get; init; }

    /// <summary>Hidden layer widths of the MLP shorthand (default one layer of 50).</summary>
    public IReadOnlyList<int>? Hidden { get; init; }

    /// <summary>MLP shorthand: the hidden activation (default relu).</summary>
    public Activation Activation { get; init; } = Activation.Relu;

    /// <summary>MLP shorthand: dropout rate on the inputs (default 0; a regression job that gives no rate and no tau tunes them, see tune).</summary>
    public double? InputDropout { get; init; }

    /// <summary>One rate for every hidden layer, or one per layer (default 0.1; a regression job that gives no rate and no tau tunes them, see tune).</summary>
    public IReadOnlyList<double>? HiddenDropout { get; init; }

    /// <summary>inverted (default) or standard dropout scaling.</summary>
    public DropoutKind DropoutKind { get; init; } = DropoutKind.Inverted;

    /// <summary>MLP shorthand: none (default), batchNorm or layerNorm after each hidden linear layer.</summary>
    public Normalization Normalization { get; init; } = Normalization.None;

    /// <summary>Learn per-input noise (mean and log-variance heads) instead of a fixed precision; regression only.</summary>
    public bool Heteroscedastic { get; init; }

    /// <summary>Noise precision of the fixed-noise regression head, in standardised target units (default 1; a regression job that gives no rate and no tau tunes them, see tune).</summary>
    public double? Tau { get; init; }

    /// <summary>Whether the request states a dropout rate or tau itself; a regression MLP that states neither is tuned by default.</summary>
    [JsonIgnore]
    public bool StatesDropoutOrTau => InputDropout is not null || HiddenDropout is not null || Tau is not null;

    /// <summary>The spec this request describes; <see cref="ArgumentException"/> when a layer list comes with MLP fields it would ignore.</summary>
    public NetworkSpec ToSpec(TaskKind task) => Layers is not null
        ? Hidden is not null || HiddenDropout is not null || InputDropout is not (null or 0) || Activation != Activation.Relu || Normalization != Normalization.None
            ? throw new ArgumentException("Network spec field 'layers' replaces the MLP fields (hidden, hiddenDropout, inputDropout, activation, normalization): give one or the other.")
            : new NetworkSpec { InputShape = InputShape, Layers = Layers, DropoutKind = DropoutKind, Head = HeadFor(task) }
        : new NetworkSpec
    {
        Inputs = 1, // set from the data by TrainingPipeline.Fitted
        Hidden = Hidden ?? [50],
        Activation = Activation,
        InputDropout = InputDropout ?? 0,
        HiddenDropout = HiddenDropout ?? [0.1],
        DropoutKind = DropoutKind,
        Normalization = Normalization,
        Head = HeadFor(task),
    };

    private HeadSpec HeadFor(TaskKind task) => new()
    {
        Kind = task == TaskKind.Classification ? HeadKind.Classification : Heteroscedastic ? HeadKind.HeteroscedasticRegression : HeadKind.Regression,
        Tau = Tau ?? 1.0,
    };
}

/// <summary>One epoch of a job's learning curve.</summary>
/// <param name="Epoch">The epoch (1-based).</param>
/// <param name="TrainLoss">Mean training loss over the epoch.</param>
/// <param name="ValidationLoss">Validation loss after the epoch; null without validation rows.</param>
/// <param name="ValidationMetric">Validation RMSE in target units (regression) or accuracy (classification); null without validation rows.</param>
public sealed record EpochPoint(int Epoch, double TrainLoss, double? ValidationLoss, double? ValidationMetric);

/// <summary>A training job as GET /training-jobs/{id} reports it (and as it is persisted).</summary>
public sealed record TrainingJob
{
    /// <summary>The job's id (32 hex digits).</summary>
    public required string Id { get; init; }

    /// <summary>The model the trained network becomes a new version of.</summary>
    public required string Model { get; init; }

    /// <summary>queued, running, succeeded, failed or cancelled.</summary>
    public JobState State { get; init; }

    /// <summary>Where the rows came from: the bundled dataset's name, or "upload".</summary>
    public required string Data { get; init; }

    /// <summary>Rows of data the job trains on (before the validation split).</summary>
    public int Rows { get; init; }

    /// <summary>When the job was submitted.</summary>
    public DateTimeOffset CreatedAt { get; init; }

    /// <summary>When training started; null while queued.</summary>
    public DateTimeOffset? StartedAt { get; init; }

    /// <summary>When the job finished; null until then.</summary>
    public DateTimeOffset? FinishedAt { get; init; }

    /// <summary>Epochs completed.</summary>
    public int Epoch { get; init; }

    /// <summary>Epochs asked for.</summary>
    public int Epochs { get; init; }

    /// <summary>Training loss of the last completed epoch.</summary>
    public double? TrainLoss { get; init; }

    /// <summary>Validation loss of the last completed epoch; null without validation rows.</summary>
    public double? ValidationLoss { get; init; }

    /// <summary>Validation RMSE (target units) or accuracy of the last completed epoch.</summary>
    public double? ValidationMetric { get; init; }

    /// <summary>What <see cref="ValidationMetric"/> is: rmse (target units) or accuracy.</summary>
    public string? MetricName { get; init; }

    /// <summary>Seconds since training started.</summary>
    public double? ElapsedSeconds { get; init; }

    /// <summary>Estimated seconds to the last epoch, from the mean epoch time so far.</summary>
    public double? EtaSeconds { get; init; }

    /// <summary>The learning curve: one point per completed epoch.</summary>
    public IReadOnlyList<EpochPoint> History { get; init; } = [];

    /// <summary>The model version this job registered once it succeeded.</summary>
    public int? Version { get; init; }

    /// <summary>Whether the saved version became the model's default.</summary>
    public bool MadeDefault { get; init; }

    /// <summary>Why the job failed; null otherwise.</summary>
    public string? Error { get; init; }

    /// <summary>A cancellation was asked for; the job stops after the current epoch.</summary>
    public bool CancelRequested { get; init; }

    [JsonIgnore]
    public bool Finished => State is JobState.Succeeded or JobState.Failed or JobState.Cancelled;
}
