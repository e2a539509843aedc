using TorchSharp;
using TorchSharp.Modules;
using Uncertainty.Model.Inference;
using Uncertainty.Model.Native;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Uncertainty.Model.Networks;

/// <summary>
/// The MLP described by a <see cref="NetworkSpec"/>. Dropout is not a module here: whether it samples
/// is decided per call by passing a <see cref="MaskPlan"/> (sample) or not (deterministic weight scaling),
/// so MC sampling never depends on the train/eval flag, which only switches BatchNorm between batch and running statistics.
/// </summary>
public sealed class DropoutMlp : Module<Tensor, Tensor>
{
    private readonly ModuleList<Module<Tensor, Tensor>> layers;
    private readonly Stage[] stages;

    // The backend is initialised in the base-constructor argument: Module's constructor already calls native code.
    public DropoutMlp(NetworkSpec spec) : base(InitializedName())
    {
        Spec = spec.Validate();
        var modules = new List<Module<Tensor, Tensor>>();
        var plan = new List<Stage>();

        void AddModule(Module<Tensor, Tensor> module)
        {
            plan.Add(new ModuleStage(modules.Count));
            modules.Add(module);
        }

        void AddDropout(double p, int width)
        {
            if (p > 0)
            {
                plan.Add(new DropoutStage(plan.OfType<DropoutStage>().Count(), p, width));
            }
        }

        AddDropout(spec.InputDropout, spec.Inputs);
        int width = spec.Inputs;
        for (int i = 0; i < spec.Hidden.Count; i++)
        {
            AddModule(Linear(width, spec.Hidden[i]));
            width = spec.Hidden[i];
            switch (spec.Normalization)
            {
                case Normalization.BatchNorm:
                    AddModule(BatchNorm1d(width));
                    break;
                case Normalization.LayerNorm:
                    AddModule(LayerNorm(width));
                    break;
            }

            AddModule(ActivationModule(spec.Activation));
            AddDropout(spec.HiddenDropoutAt(i), width);
        }

        AddModule(Linear(width, spec.HeadWidth));
        stages = [.. plan];
        layers = ModuleList([.. modules]);
        FirstStochasticStage = Array.FindIndex(stages, stage => stage is DropoutStage) is var first and >= 0 ? first : stages.Length;
        RegisterComponents();
    }

    public NetworkSpec Spec { get; }

    private static string InitializedName()
    {
        TorchBackend.EnsureInitialized();
        return nameof(DropoutMlp);
    }

    /// <summary>Stages before this index are deterministic: MC prediction may run them once per input and share the result across samples.</summary>
    public int FirstStochasticStage { get; }

    public int StageCount => stages.Length;

    /// <summary>Number of dropout stages with a positive rate: the layers a <see cref="MaskPlan"/> needs keys for.</summary>
    public int DropoutLayers => stages.OfType<DropoutStage>().Count();

    /// <summary>True when any dropout rate is positive, i.e. MC samples can differ.</summary>
    public bool IsStochastic => FirstStochasticStage < stages.Length;

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

        var x = input;
        for (int i = from; i < to; i++)
        {
            x = stages[i] switch
            {
                ModuleStage module => layers[module.Index].call(x),
                DropoutStage dropout when plan is not null => ApplyMask(x, masks!.Mask(plan, dropout.Ordinal, dropout.Width, dropout.P, KeptScale(dropout.P), x.dtype), plan.RowsPerSample),
                DropoutStage dropout => Spec.DropoutKind == DropoutKind.Standard ? Scaled(x, 1 - dropout.P) : x,
                _ => throw new InvalidOperationException("unknown stage"),
            };
        }

        return x;
    }

    /// <summary>
    /// x times its mask; with <paramref name="rowsPerSample"/> above one the [samples, width] mask is broadcast over each
    /// sample's rows rather than gathered to every row.
    /// </summary>
    private static Tensor ApplyMask(Tensor x, Tensor mask, int rowsPerSample)
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

            ApplyMask(x.narrow(0, 0, covered), mask, rowsPerSample);
            return x;
        }

        if (rowsPerSample > 1)
        {
            var width = x.shape[^1];
            var grouped = x.view(-1, rowsPerSample, width);
            var expanded = mask.unsqueeze(1);
            return (inPlace ? grouped.mul_(expanded) : grouped.mul(expanded)).view(-1, width);
        }

        return inPlace ? x.mul_(mask) : x.mul(mask);
    }

    /// <summary>x times a constant, the Scalar held alive for the call (TorchSharp's temporary Scalars can be finalised mid-call).</summary>
    private static Tensor Scaled(Tensor x, double factor)
    {
        using var scalar = factor.ToScalar();
        return x.mul(scalar);
    }

    /// <summary>Inverted dropout scales kept units by 1/(1-p) while sampling; standard dropout does not.</summary>
    private double KeptScale(double p) => Spec.DropoutKind == DropoutKind.Inverted ? 1 / (1 - p) : 1;

    private static Module<Tensor, Tensor> ActivationModule(Activation activation) => activation switch
    {
        Activation.Relu => ReLU(),
        Activation.Tanh => Tanh(),
        Activation.Gelu => GELU(),
        Activation.Sigmoid => Sigmoid(),
        Activation.Elu => ELU(),
        Activation.LeakyRelu => LeakyReLU(),
        Activation.Identity => Identity(),
        _ => throw new ArgumentOutOfRangeException(nameof(activation), activation, "unknown activation"),
    };

    private abstract record Stage;

    private sealed record ModuleStage(int Index) : Stage;

    private sealed record DropoutStage(int Ordinal, double P, int Width) : Stage;
}
