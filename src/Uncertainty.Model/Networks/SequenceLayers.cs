using TorchSharp;
using TorchSharp.Modules;
using Uncertainty.Model.Native;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;
using F = TorchSharp.torch.nn.functional;

namespace Uncertainty.Model.Networks;

/// <summary>
/// A layer over [rows, L, D] sequences that reads the padding (<see cref="PassMasks.Valid"/>) or draws masks of its own.
/// Parameter names are those of the PyTorch module docs/layers.md names, so a PyTorch state dict imports as it is.
/// </summary>
public abstract class SequenceLayer(string name) : Module<Tensor, Tensor>(name)
{
    /// <summary>A deterministic pass over unpadded sequences.</summary>
    public override Tensor forward(Tensor input) => Run(input, new PassMasks(null, null, DropoutKind.Inverted, null));

    public abstract Tensor Run(Tensor x, PassMasks pass);

    /// <summary>Draws the layer's weights from <paramref name="generator"/> as PyTorch initialises the same module.</summary>
    public abstract void ResetParameters(Generator generator);

    /// <summary>Builds the layer of a resolved spec; <paramref name="ordinals"/> numbers its mask streams (-1 where a rate is 0).</summary>
    public static SequenceLayer Create(LayerShape layer, int[] ordinals) => layer.Layer.Type switch
    {
        LayerType.Embedding => new TokenEmbedding(layer.Layer, ordinals[0]),
        LayerType.PositionalEmbedding => new PositionCode(layer.Layer.MaxLength!.Value, layer.Input[1], learned: true),
        LayerType.SinusoidalPosition => new PositionCode(layer.Input[0], layer.Input[1], learned: false),
        LayerType.Lstm or LayerType.Gru => new RecurrentLayer(layer, ordinals),
        LayerType.TransformerEncoder => new TransformerEncoderStack(layer.Layer, layer.Input[0], ordinals),
        LayerType.ClsToken => new ClassToken(layer.Input[1]),
        LayerType.MeanPool or LayerType.LastStep or LayerType.FirstStep => new StepPool(layer.Layer.Type),
        _ => throw new ArgumentOutOfRangeException(nameof(layer), layer.Layer.Type, "not a sequence layer"),
    };

    /// <summary>U(-bound, bound) in place, from the generator.</summary>
    internal static void Uniform(Tensor tensor, double bound, Generator generator)
    {
        using var width = (2 * bound).ToScalar();
        using var offset = bound.ToScalar();
        tensor.copy_(rand(tensor.shape, generator: generator).mul_(width).sub_(offset));
    }

    /// <summary>N(0, std^2) in place, from the generator.</summary>
    internal static void Normal(Tensor tensor, double std, Generator generator)
    {
        using var scale = std.ToScalar();
        tensor.copy_(randn(tensor.shape, generator: generator).mul_(scale));
    }

    /// <summary>x times a constant, the Scalar held for the call (TorchSharp's temporary Scalars can be finalised mid-call).</summary>
    internal static Tensor Times(Tensor x, double factor)
    {
        using var scalar = factor.ToScalar();
        return x.mul(scalar);
    }

    /// <summary>[rows, L, 1] of 1 at valid steps and 0 at padding, in x's type; null when every step is valid.</summary>
    internal static Tensor? ValidColumn(PassMasks pass, Tensor x) => pass.Valid?.unsqueeze(-1).to(x.dtype);
}

/// <summary>
/// nn.Embedding over token ids (0 = padding, whose vectors are zero). Word dropout (Gal and Ghahramani 2016, section 4.2)
/// drops token types: one keep/drop per (sample, sequence, vocabulary id), so every occurrence of a dropped word vanishes.
/// </summary>
internal sealed class TokenEmbedding : SequenceLayer
{
    private readonly Parameter weight;
    private readonly int ordinal;
    private readonly double rate;

    public TokenEmbedding(LayerSpec spec, int ordinal) : base(nameof(TokenEmbedding))
    {
        weight = new Parameter(zeros(spec.Vocab!.Value, spec.Dim!.Value));
        register_parameter("weight", weight);
        this.ordinal = ordinal;
        rate = spec.WordDropout ?? 0;
    }

    public override Tensor Run(Tensor x, PassMasks pass)
    {
        var ids = x.to(ScalarType.Int64);
        long rows = ids.shape[0], length = ids.shape[1];
        var vectors = weight.index_select(0, ids.flatten()).view(rows, length, -1);
        var keep = ids.ne(HeldScalars.Zero).to(vectors.dtype);
        if (ordinal >= 0)
        {
            keep = pass.Sampling ? keep.mul(pass.At(ids, ordinal, (int)weight.shape[0], rate, vectors.dtype)) : Times(keep, pass.DeterministicScale(rate));
        }

        return vectors.mul(keep.unsqueeze(-1));
    }

    public override void ResetParameters(Generator generator)
    {
        using var noGrad = no_grad();
        Normal(weight, 1, generator);
    }
}

/// <summary>Adds a position code: learned (nn.Embedding over positions, "weight") or Vaswani's fixed sines and cosines.</summary>
internal sealed class PositionCode : SequenceLayer
{
    private readonly Tensor code;
    private readonly bool learned;

    public PositionCode(int length, int features, bool learned) : base(nameof(PositionCode))
    {
        this.learned = learned;
        if (learned)
        {
            var weight = new Parameter(zeros(length, features));
            register_parameter("weight", weight);
            code = weight;
        }
        else
        {
            // PE[t, 2i] = sin(t / 10000^(2i/D)), PE[t, 2i+1] = cos(t / 10000^(2i/D)); a buffer that is not saved.
            var values = new float[(long)length * features];
            for (int t = 0; t < length; t++)
            {
                for (int j = 0; j < features; j++)
                {
                    double angle = t / Math.Pow(10000, (j - (j % 2)) / (double)features);
                    values[((long)t * features) + j] = (float)(j % 2 == 0 ? Math.Sin(angle) : Math.Cos(angle));
                }
            }

            code = tensor(values, [length, features]);
            register_buffer("code", code, persistent: false);
        }
    }

    public override Tensor Run(Tensor x, PassMasks pass) => x.add(code.narrow(0, 0, x.shape[1]).to(x.dtype), HeldScalars.One);

    public override void ResetParameters(Generator generator)
    {
        if (learned)
        {
            using var noGrad = no_grad();
            Normal(code, 0.02, generator);
        }
    }
}

/// <summary>Prepends a learned vector ("weight", [D]) to every sequence; the new first step is always valid.</summary>
internal sealed class ClassToken : SequenceLayer
{
    private readonly Parameter weight;

    public ClassToken(int features) : base(nameof(ClassToken))
    {
        weight = new Parameter(zeros(features));
        register_parameter("weight", weight);
    }

    public override Tensor Run(Tensor x, PassMasks pass)
    {
        long rows = x.shape[0];
        if (pass.Valid is { } valid)
        {
            pass.Valid = cat([ones(rows, 1, ScalarType.Bool, valid.device), valid], 1);
        }

        return cat([weight.to(x.dtype).view(1, 1, -1).expand(rows, 1, -1), x], 1);
    }

    public override void ResetParameters(Generator generator)
    {
        using var noGrad = no_grad();
        Normal(weight, 0.02, generator);
    }
}

/// <summary>[rows, L, D] to [rows, D]: the mean of the valid steps, the last valid step, or the first step.</summary>
internal sealed class StepPool(LayerType type) : SequenceLayer(nameof(StepPool))
{
    public override Tensor Run(Tensor x, PassMasks pass)
    {
        switch (type)
        {
            case LayerType.FirstStep:
                return x.select(1, 0);
            case LayerType.MeanPool when pass.Valid is { } valid:
            {
                var weights = valid.to(x.dtype);
                using var one = 1.ToScalar();
                return x.mul(weights.unsqueeze(-1)).sum(1).div(weights.sum(1, keepdim: true).clamp_min(one));
            }

            case LayerType.MeanPool:
                return x.mean([1]);
            case LayerType.LastStep when pass.Valid is { } valid:
            {
                // The largest valid position, counting from 1 (0 when a row is all padding), then back to an index.
                var positions = ones_like(valid, ScalarType.Int64).cumsum(1);
                using var one = 1.ToScalar();
                using var zero = 0.ToScalar();
                var last = valid.to(ScalarType.Int64).mul(positions).amax([1]).sub_(one).clamp_min_(zero);
                return x.gather(1, last.view(-1, 1, 1).expand(-1, 1, x.shape[2])).squeeze(1);
            }

            default:
                return x.select(1, x.shape[1] - 1);
        }
    }

    public override void ResetParameters(Generator generator)
    {
    }
}

/// <summary>
/// A stacked LSTM or GRU with nn.LSTM / nn.GRU(batch_first=True) parameters (weight_ih_l{k}, weight_hh_l{k}, bias_ih_l{k},
/// bias_hh_l{k}; gates i, f, g, o and r, z, n). Variational dropout (Gal and Ghahramani 2016): per stacked layer one mask on
/// the input units and one on the recurrent state, drawn once per (sample, sequence) and applied at every step, tied across
/// the gates; the cell state and the carried state are not masked. Naive dropout draws a fresh mask per step instead.
/// At a padded step the state is carried unchanged and the output is zero, so padding never changes a result.
/// </summary>
internal sealed class RecurrentLayer : SequenceLayer
{
    private readonly bool lstm;
    private readonly bool naive;
    private readonly bool returnAll;
    private readonly int hidden;
    private readonly int[] ordinals;
    private readonly double inputRate;
    private readonly double recurrentRate;
    private readonly double outputRate;
    private readonly (Parameter InputWeight, Parameter StateWeight, Parameter InputBias, Parameter StateBias)[] weights;

    public RecurrentLayer(LayerShape layer, int[] ordinals) : base(nameof(RecurrentLayer))
    {
        var spec = layer.Layer;
        lstm = spec.Type == LayerType.Lstm;
        naive = spec.Naive ?? false;
        returnAll = spec.Return == SequenceReturn.All;
        hidden = spec.Hidden!.Value;
        this.ordinals = ordinals;
        (inputRate, recurrentRate, outputRate) = (spec.InputDropout ?? 0, spec.RecurrentDropout ?? 0, spec.OutputDropout ?? 0);
        int gates = (lstm ? 4 : 3) * hidden;
        weights = new (Parameter, Parameter, Parameter, Parameter)[spec.Depth];
        for (int k = 0; k < spec.Depth; k++)
        {
            int inputs = k == 0 ? layer.Input[1] : hidden;
            weights[k] = (new Parameter(zeros(gates, inputs)), new Parameter(zeros(gates, hidden)), new Parameter(zeros(gates)), new Parameter(zeros(gates)));
            register_parameter($"weight_ih_l{k}", weights[k].InputWeight);
            register_parameter($"weight_hh_l{k}", weights[k].StateWeight);
            register_parameter($"bias_ih_l{k}", weights[k].InputBias);
            register_parameter($"bias_hh_l{k}", weights[k].StateBias);
        }
    }

    public override Tensor Run(Tensor x, PassMasks pass)
    {
        long rows = x.shape[0], length = x.shape[1];
        var valid = ValidColumn(pass, x)?.squeeze(-1);
        Tensor? last = null;
        for (int k = 0; k < weights.Length; k++)
        {
            var (inputWeight, stateWeight, inputBias, stateBias) = weights[k];
            int inputOrdinal = ordinals[2 * k], stateOrdinal = ordinals[(2 * k) + 1];

            // The input side of every step in one product: masked per sequence (or per step), then x W_ih^T + b_ih.
            var masked = naive && pass.Sampling && inputOrdinal >= 0
                ? x.mul(pass.Rows(inputOrdinal, checked((int)(length * x.shape[2])), inputRate, rows, x.dtype).view(x.shape))
                : pass.PerUnit(x, inputOrdinal, inputRate);
            var inputGates = F.linear(masked, inputWeight.to(x.dtype), inputBias.to(x.dtype));

            Tensor? stateMasks = null;
            if (pass.Sampling && stateOrdinal >= 0)
            {
                stateMasks = pass.Rows(stateOrdinal, checked((int)((naive ? length : 1) * hidden)), recurrentRate, rows, x.dtype).view(rows, naive ? length : 1, hidden);
            }

            var state = zeros(rows, hidden, x.dtype, x.device);
            var cell = lstm ? zeros(rows, hidden, x.dtype, x.device) : null;
            var outputs = new List<Tensor>((int)length);
            var weightT = stateWeight.to(x.dtype).t();
            var bias = stateBias.to(x.dtype);
            for (long t = 0; t < length; t++)
            {
                var read = stateMasks is not null ? state.mul(stateMasks.select(1, naive ? t : 0))
                    : pass.Sampling || stateOrdinal < 0 ? state
                    : Times(state, pass.DeterministicScale(recurrentRate));
                var stateGates = addmm(bias, read, weightT, 1, 1);
                var stepGates = inputGates.select(1, t);
                Tensor next, nextCell = null!;
                if (lstm)
                {
                    var gates = stepGates.add(stateGates, HeldScalars.One).chunk(4, 1);
                    nextCell = gates[1].sigmoid().mul(cell!).add(gates[0].sigmoid().mul(gates[2].tanh()), HeldScalars.One);
                    next = gates[3].sigmoid().mul(nextCell.tanh());
                }
                else
                {
                    var input = stepGates.chunk(3, 1);
                    var fromState = stateGates.chunk(3, 1);
                    var reset = input[0].add(fromState[0], HeldScalars.One).sigmoid();
                    var update = input[1].add(fromState[1], HeldScalars.One).sigmoid();
                    var candidate = input[2].add(reset.mul(fromState[2]), HeldScalars.One).tanh();
                    next = candidate.add(update.mul(state.sub(candidate)), HeldScalars.One); // (1 - z) n + z h
                }

                if (valid is not null)
                {
                    var at = valid.select(1, t).unsqueeze(1);
                    next = state.add(at.mul(next.sub(state)), HeldScalars.One);
                    if (lstm)
                    {
                        nextCell = cell!.add(at.mul(nextCell.sub(cell!)), HeldScalars.One);
                    }

                    outputs.Add(next.mul(at));
                }
                else
                {
                    outputs.Add(next);
                }

                state = next;
                cell = nextCell;
            }

            x = stack(outputs, 1);
            last = state;
        }

        var result = returnAll ? x : last!;
        return pass.PerUnit(result, ordinals[^1], outputRate);
    }

    /// <summary>PyTorch's nn.LSTM / nn.GRU start: every weight and bias from U(-1/sqrt(hidden), 1/sqrt(hidden)).</summary>
    public override void ResetParameters(Generator generator)
    {
        using var noGrad = no_grad();
        foreach (var (_, parameter) in named_parameters())
        {
            Uniform(parameter, 1 / Math.Sqrt(hidden), generator);
        }
    }
}

/// <summary>
/// nn.TransformerEncoder(nn.TransformerEncoderLayer(dModel, heads, ffn, batch_first=True, norm_first), layers) without a
/// final norm: parameters layers.{k}.self_attn.in_proj_weight / in_proj_bias / out_proj, linear1, linear2, norm1, norm2.
/// Dropout where PyTorch puts it: on the softmax attention weights (not renormalised; one unit per head, query and key),
/// on the feed-forward activation, and before each residual add (element-wise). Padded keys are never attended, and the
/// output at padded steps is zero.
/// </summary>
internal sealed class TransformerEncoderStack : SequenceLayer
{
    private readonly ModuleList<EncoderLayer> layers;

    public TransformerEncoderStack(LayerSpec spec, int length, int[] ordinals) : base(nameof(TransformerEncoderStack))
    {
        layers = ModuleList([.. Enumerable.Range(0, spec.Depth).Select(k => new EncoderLayer(spec, length, ordinals[(4 * k)..((4 * k) + 4)]))]);
        register_module("layers", layers);
    }

    public override Tensor Run(Tensor x, PassMasks pass)
    {
        foreach (var layer in layers)
        {
            if (is_grad_enabled())
            {
                x = layer.Run(x, pass);
                continue;
            }

            // Predicting, nothing is kept for a backward pass: each layer's temporaries (the heads x L x L scores and
            // weights) are freed before the next layer runs, so a pass holds one layer's, as LayerShape.WorkingValues counts.
            using var scope = NewDisposeScope();
            x = layer.Run(x, pass).MoveToOuterDisposeScope();
        }

        return ValidColumn(pass, x) is { } valid ? x.mul(valid) : x;
    }

    public override void ResetParameters(Generator generator)
    {
        foreach (var layer in layers)
        {
            layer.ResetParameters(generator);
        }
    }

    internal sealed class EncoderLayer : Module<Tensor, Tensor>
    {
        /// <summary>Added to the scores of padded keys: far below any score, yet finite in bfloat16, so a row with no valid key stays finite.</summary>
        private const double Excluded = -1e30;

        private readonly SelfAttention self_attn;
        private readonly Linear linear1;
        private readonly Linear linear2;
        private readonly LayerNorm norm1;
        private readonly LayerNorm norm2;
        private readonly int heads;
        private readonly bool normFirst;
        private readonly bool gelu;
        private readonly double attentionRate;
        private readonly double rate;
        private readonly int[] ordinals;

        public EncoderLayer(LayerSpec spec, int length, int[] ordinals) : base(nameof(EncoderLayer))
        {
            int model = spec.DModel!.Value;
            heads = spec.Heads!.Value;
            normFirst = spec.NormFirst ?? false;
            gelu = spec.Activation == Activation.Gelu;
            attentionRate = spec.AttentionDropout ?? 0.1;
            rate = spec.Dropout ?? 0.1;
            this.ordinals = ordinals;
            self_attn = new SelfAttention(model);
            linear1 = Linear(model, spec.Ffn!.Value);
            linear2 = Linear(spec.Ffn!.Value, model);
            norm1 = LayerNorm(model);
            norm2 = LayerNorm(model);
            register_module("self_attn", self_attn);
            register_module("linear1", linear1);
            register_module("linear2", linear2);
            register_module("norm1", norm1);
            register_module("norm2", norm2);
        }

        public override Tensor forward(Tensor input) => Run(input, new PassMasks(null, null, DropoutKind.Inverted, null));

        public Tensor Run(Tensor x, PassMasks pass)
        {
            if (normFirst)
            {
                x = x.add(pass.PerValue(Attend(norm1.call(x), pass), ordinals[1], rate), HeldScalars.One);
                return x.add(pass.PerValue(FeedForward(norm2.call(x), pass), ordinals[3], rate), HeldScalars.One);
            }

            x = norm1.call(x.add(pass.PerValue(Attend(x, pass), ordinals[1], rate), HeldScalars.One));
            return norm2.call(x.add(pass.PerValue(FeedForward(x, pass), ordinals[3], rate), HeldScalars.One));
        }

        private Tensor FeedForward(Tensor x, PassMasks pass)
        {
            var hiddenValues = linear1.call(x);
            hiddenValues = gelu ? F.gelu(hiddenValues) : F.relu(hiddenValues);
            return linear2.call(pass.PerValue(hiddenValues, ordinals[2], rate));
        }

        internal Tensor Attend(Tensor x, PassMasks pass)
        {
            long rows = x.shape[0], length = x.shape[1], model = x.shape[2], width = model / heads;
            var qkv = F.linear(x, self_attn.InProjectionWeight.to(x.dtype), self_attn.InProjectionBias.to(x.dtype))
                .view(rows, length, 3, heads, width).permute(2, 0, 3, 1, 4); // [3, rows, heads, L, width]
            var scores = SequenceLayer.Times(matmul(qkv[0], qkv[1].transpose(-2, -1)), 1 / Math.Sqrt(width));
            if (pass.Valid is { } valid)
            {
                using var excluded = Excluded.ToScalar();
                scores = scores.masked_fill(valid.logical_not().view(rows, 1, 1, length), excluded);
            }

            var weights = pass.PerValue(scores.softmax(-1), ordinals[0], attentionRate);
            var attended = matmul(weights, qkv[2]).transpose(1, 2).reshape(rows, length, model);
            return self_attn.OutProjection.call(attended);
        }

        /// <summary>PyTorch's start: in_proj Xavier-uniform with zero bias, out_proj bias zero, linear layers their fan-in rule, norms (1, 0).</summary>
        public void ResetParameters(Generator generator)
        {
            using var noGrad = no_grad();
            long model = self_attn.InProjectionWeight.shape[1];
            SequenceLayer.Uniform(self_attn.InProjectionWeight, Math.Sqrt(6.0 / (model + (3 * model))), generator);
            self_attn.InProjectionBias.zero_();
            SequenceLayer.Uniform(self_attn.OutProjection.weight!, 1 / Math.Sqrt(model), generator);
            self_attn.OutProjection.bias!.zero_();
            foreach (var linear in new[] { linear1, linear2 })
            {
                double bound = 1 / Math.Sqrt(linear.weight!.shape[1]);
                SequenceLayer.Uniform(linear.weight!, bound, generator);
                SequenceLayer.Uniform(linear.bias!, bound, generator);
            }
        }
    }

    /// <summary>nn.MultiheadAttention's parameters: in_proj_weight [3D, D], in_proj_bias [3D], out_proj (Linear D to D).</summary>
    internal sealed class SelfAttention : Module<Tensor, Tensor>
    {
        // Fields named as PyTorch names them: a parent's RegisterComponents registers fields by name (a property would
        // register again under its backing field's name).
#pragma warning disable SA1306, IDE1006
        private readonly Linear out_proj;
#pragma warning restore SA1306, IDE1006

        public SelfAttention(int model) : base(nameof(SelfAttention))
        {
            InProjectionWeight = new Parameter(zeros(3 * model, model));
            InProjectionBias = new Parameter(zeros(3 * model));
            out_proj = Linear(model, model);
            register_parameter("in_proj_weight", InProjectionWeight);
            register_parameter("in_proj_bias", InProjectionBias);
            register_module("out_proj", out_proj);
        }

        public Parameter InProjectionWeight { get; }

        public Parameter InProjectionBias { get; }

        public Linear OutProjection => out_proj;

        public override Tensor forward(Tensor input) => throw new NotSupportedException("Attention runs inside its encoder layer.");
    }
}
