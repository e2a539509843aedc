using TorchSharp;
using TorchSharp.Modules;
using Uncertainty.Model.Inference;
using Uncertainty.Model.Native;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Uncertainty.Model.Networks;

/// <summary>
/// The network a <see cref="NetworkSpec"/> describes, for any layer list. Dropout is not a module here: whether it samples
/// is decided per call by passing a <see cref="MaskPlan"/> (sample) or not (deterministic weight scaling), so MC sampling
/// never depends on the train/eval flag, which only switches BatchNorm between batch and running statistics.
/// Every other layer is a module from <see cref="LayerModules"/>, registered as layers.{k} with k counting those modules
/// (dropout layers are not numbered), which keeps the names of packages saved before layer lists existed.
/// </summary>
public sealed class DropoutNetwork : Module<Tensor, Tensor>
{
    private readonly ModuleList<Module<Tensor, Tensor>> layers;
    private readonly Stage[] stages;
    private readonly long[] inputShape;

    // The backend is initialised in the base-constructor argument: Module's constructor already calls native code.
    public DropoutNetwork(NetworkSpec spec) : base(InitializedName())
    {
        Spec = spec.Validate();
        var modules = new List<Module<Tensor, Tensor>>();
        var plan = new List<Stage>();
        var moduleOfLayer = new List<int>();
        int ordinal = 0;
        foreach (var layer in spec.Shapes())
        {
            moduleOfLayer.Add(layer.Layer.IsDropout ? -1 : modules.Count);
            switch (layer.Layer)
            {
                case { IsDropout: true, Rate: 0 }:
                    break;
                case { Type: LayerType.Dropout, Rate: var p }:
                    plan.Add(new DropoutStage(ordinal++, p, 1, (int)layer.OutputValues, 1));
                    break;
                case { Type: LayerType.Dropout2d, Rate: var p }:
                    // One mask value per channel, broadcast over the channel's H x W positions.
                    plan.Add(new DropoutStage(ordinal++, p, 1, layer.Input[0], layer.Input[1] * layer.Input[2]));
                    break;
                case { IsSequenceLayer: true }:
                    // Its mask streams are numbered in order with the dropout layers'; a zero rate draws nothing (-1).
                    int[] ordinals = [.. layer.Layer.OwnDropoutRates.Select(rate => rate > 0 ? ordinal++ : -1)];
                    plan.Add(new SequenceStage(modules.Count));
                    modules.Add(SequenceLayer.Create(layer, ordinals));
                    break;
                default:
                    plan.Add(new ModuleStage(modules.Count));
                    modules.Add(LayerModules.Create(layer));
                    break;
            }
        }

        stages = [.. plan];
        DropoutLayers = ordinal;
        ModuleIndexOfLayer = moduleOfLayer;
        inputShape = [.. spec.ResolvedInputShape.Select(extent => (long)extent)];
        layers = ModuleList([.. modules]);
        // A sequence network has no shared prefix: its layers read the padding, which is found in the raw input rows.
        FirstStochasticStage = spec.IsSequence ? 0 : Array.FindIndex(stages, stage => stage is DropoutStage) is var first and >= 0 ? first : stages.Length;
        RegisterComponents();
    }

    /// <summary>For each layer of <see cref="NetworkSpec.ResolvedLayers"/>, the k of its module's name layers.{k}; -1 for dropout layers.</summary>
    public IReadOnlyList<int> ModuleIndexOfLayer { get; }

    public NetworkSpec Spec { get; }

    private static string InitializedName()
    {
        TorchBackend.EnsureInitialized();
        return nameof(DropoutNetwork);
    }

    /// <summary>Stages before this index are deterministic: MC prediction may run them once per input and share the result across samples.</summary>
    public int FirstStochasticStage { get; }

    public int StageCount => stages.Length;

    /// <summary>Mask streams with a positive rate (dropout layers, and the dropout sites inside sequence layers): the layers a <see cref="MaskPlan"/> needs keys for.</summary>
    public int DropoutLayers { get; }

    /// <summary>True when any dropout rate is positive, i.e. MC samples can differ.</summary>
    public bool IsStochastic => DropoutLayers > 0;

    /// <summary>Deterministic forward pass (weight scaling).</summary>
    public override Tensor forward(Tensor input) => RunStages(input, 0, stages.Length, plan: null, masks: null);

    /// <summary>
    /// Runs stages [<paramref name="from"/>, <paramref name="to"/>). With a plan, every dropout stage applies that plan's
    /// masks (one row of <paramref name="input"/> per activation row); without one, dropout uses deterministic scaling.
    /// </summary>
    /// <remarks>
    /// Under inference <paramref name="input"/> may carry rows beyond those the plan covers (the predictor pads passes to
    /// fixed row multiples, see <see cref="McPredictor.Reproducible"/>): they run through every layer unmasked, and the caller drops them.
    /// </remarks>
    public Tensor RunStages(Tensor input, int from, int to, MaskPlan? plan, DropoutMasks? masks)
    {
        if (plan is not null && masks is null)
        {
            throw new ArgumentNullException(nameof(masks), "A mask plan needs a mask source.");
        }

        // Rows arrive flat ([rows, inputs]); the first layer reads them in the spec's shape ([rows, C, H, W] for images).
        var x = from == 0 && input.dim() == 2 && inputShape.Length > 1 ? input.view([input.shape[0], .. inputShape]) : input;
        PassMasks? pass = null;
        if (Spec.IsSequence && to > from)
        {
            if (from != 0)
            {
                throw new ArgumentOutOfRangeException(nameof(from), "A sequence network runs from its input rows: the padding is read there.");
            }

            (x, var valid) = Padding(x);
            pass = new PassMasks(plan, masks, Spec.DropoutKind, valid);
        }

        for (int i = from; i < to; i++)
        {
            x = stages[i] switch
            {
                ModuleStage module => layers[module.Index].call(x),
                SequenceStage sequence => ((SequenceLayer)layers[sequence.Index]).Run(x, pass!),
                DropoutStage dropout when plan is not null => ApplyMask(x, masks!.Mask(plan, dropout.Ordinal, dropout.Units, dropout.P, KeptScale(dropout.P), x.dtype), plan.RowsPerSample, dropout),
                DropoutStage dropout => Spec.DropoutKind == DropoutKind.Standard ? Scaled(x, 1 - dropout.P) : x,
                _ => throw new InvalidOperationException("unknown stage"),
            };
        }

        return x;
    }

    /// <summary>
    /// x times its mask. Each row's activation is read as [outer, units, inner] and the mask row (one value per unit) is
    /// broadcast over outer and inner: element-wise dropout has every value as a unit, spatial dropout the channels.
    /// With <paramref name="rowsPerSample"/> above one the [samples, units] mask is broadcast over each sample's rows
    /// rather than gathered to every row.
    /// </summary>
    private static Tensor ApplyMask(Tensor x, Tensor mask, int rowsPerSample, DropoutStage stage)
    {
        // Only under inference/no-grad, where x is always a fresh activation; a training batch may be a view of the data.
        bool inPlace = !is_grad_enabled();
        long covered = mask.shape[0] * rowsPerSample;
        if (covered != x.shape[0])
        {
            // Padding rows past the plan's: masked in place through a view, so the padded activation flows on whole.
            if (!inPlace || covered > x.shape[0])
            {
                throw new ArgumentException($"The plan covers {covered} rows; the activation has {x.shape[0]} (extra rows only under inference).", nameof(x));
            }

            ApplyMask(x.narrow(0, 0, covered), mask, rowsPerSample, stage);
            return x;
        }

        if (!x.is_contiguous())
        {
            x = x.contiguous();
            inPlace = false;
        }

        var shape = x.shape;
        var grouped = x.view(-1, rowsPerSample, stage.Outer, stage.Units, stage.Inner);
        var expanded = mask.view(-1, 1, 1, stage.Units, 1);
        return (inPlace ? grouped.mul_(expanded) : grouped.mul(expanded)).view(shape);
    }

    /// <summary>
    /// The valid steps of sequence rows, and the rows with padding cleared: token ids are padding where 0; a step of values is
    /// padding where any of its values is NaN (the service pads shorter sequences with NaN steps), and becomes zeros.
    /// </summary>
    private (Tensor Rows, Tensor Valid) Padding(Tensor x)
    {
        if (Spec.IsTokenSequence)
        {
            return (x, x.ne(HeldScalars.Zero));
        }

        var missing = x.isnan();
        using var zero = 0.ToScalar();
        return (x.masked_fill(missing, zero), missing.any(-1).logical_not());
    }

    /// <summary>x times a constant, the Scalar held alive for the call (TorchSharp's temporary Scalars can be finalised mid-call).</summary>
    private static Tensor Scaled(Tensor x, double factor)
    {
        using var scalar = factor.ToScalar();
        return x.mul(scalar);
    }

    /// <summary>Inverted dropout scales kept units by 1/(1-p) while sampling; standard dropout does not.</summary>
    private double KeptScale(double p) => Spec.DropoutKind.KeptScale(p);

    private abstract record Stage;

    private sealed record ModuleStage(int Index) : Stage;

    /// <summary>A <see cref="SequenceLayer"/>: reads the padding and draws its own masks.</summary>
    private sealed record SequenceStage(int Index) : Stage;

    /// <summary>A dropout layer whose mask has one value per unit of a row's activation read as [outer, units, inner].</summary>
    private sealed record DropoutStage(int Ordinal, double P, int Outer, int Units, int Inner) : Stage;
}
