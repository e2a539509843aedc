using TorchSharp;
using TorchSharp.Modules;
using Uncertainty.Model.Native;
using static TorchSharp.torch;

namespace Uncertainty.Model.Training;

/// <summary>
/// SGD with momentum and Adam, written so every Scalar handed to native code stays alive for the call.
/// TorchSharp 0.107 turns doubles into <see cref="Scalar"/> objects that only a finalizer frees, and its own
/// optimizers pass such temporaries to native calls without keeping them alive: a garbage collection in between
/// frees the scalar mid-call. Long training runs crashed that way ("Unknown scalar type", "Expected false to be
/// true" from c10::Scalar, after some 10^5 steps); these implementations hold each Scalar in a using-scope.
/// The update rules are PyTorch's (tested against TorchSharp's own optimizers).
/// </summary>
public abstract class Optimizer(IReadOnlyList<Parameter> parameters) : IDisposable
{
    protected IReadOnlyList<Parameter> Parameters { get; } = parameters;

    public double LearningRate { get; set; }

    public void ZeroGrad()
    {
        foreach (var parameter in Parameters)
        {
            parameter.grad?.zero_();
        }
    }

    /// <summary>One update from the current gradients.</summary>
    public abstract void Update();

    public abstract void Dispose();

    public static Optimizer Create(TrainingOptions options, IReadOnlyList<Parameter> parameters) => options.Optimizer == OptimizerKind.Sgd
        ? new SgdOptimizer(parameters, options.Momentum, options.Nesterov) { LearningRate = options.LearningRate }
        : new AdamOptimizer(parameters) { LearningRate = options.LearningRate };
}

/// <summary>SGD with momentum (dampening 0): b = mu b + g, step -lr b (or -lr (g + mu b) with Nesterov).</summary>
public sealed class SgdOptimizer(IReadOnlyList<Parameter> parameters, double momentum, bool nesterov) : Optimizer(parameters)
{
    private readonly Dictionary<Parameter, Tensor> buffers = [];

    public override void Update()
    {
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        using var mu = momentum.ToScalar();
        using var minusLearningRate = (-LearningRate).ToScalar();
        foreach (var parameter in Parameters)
        {
            if (parameter.grad is not { } gradient)
            {
                continue;
            }

            var direction = gradient;
            if (momentum != 0)
            {
                if (!buffers.TryGetValue(parameter, out var buffer))
                {
                    buffer = gradient.detach().clone();
                    buffer.DetachFromDisposeScope();
                    buffers[parameter] = buffer;
                }
                else
                {
                    buffer.mul_(mu).add_(gradient, HeldScalars.One);
                }

                direction = nesterov ? gradient.add(buffer, alpha: mu) : buffer;
            }

            parameter.add_(direction, alpha: minusLearningRate);
        }
    }

    public override void Dispose()
    {
        foreach (var buffer in buffers.Values)
        {
            buffer.Dispose();
        }

        buffers.Clear();
    }
}

/// <summary>Adam (Kingma and Ba) with PyTorch's defaults: beta1 0.9, beta2 0.999, eps 1e-8, bias correction.</summary>
public sealed class AdamOptimizer(IReadOnlyList<Parameter> parameters, double beta1 = 0.9, double beta2 = 0.999, double epsilon = 1e-8) : Optimizer(parameters)
{
    private readonly Dictionary<Parameter, (Tensor Mean, Tensor Square)> moments = [];
    private int step;

    public override void Update()
    {
        step++;
        double correction1 = 1 - Math.Pow(beta1, step), correction2 = 1 - Math.Pow(beta2, step);
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        using var b1 = beta1.ToScalar();
        using var oneMinusB1 = (1 - beta1).ToScalar();
        using var b2 = beta2.ToScalar();
        using var oneMinusB2 = (1 - beta2).ToScalar();
        using var sqrtCorrection2 = Math.Sqrt(correction2).ToScalar();
        using var eps = epsilon.ToScalar();
        using var minusStep = (-LearningRate / correction1).ToScalar();
        foreach (var parameter in Parameters)
        {
            if (parameter.grad is not { } gradient)
            {
                continue;
            }

            if (!moments.TryGetValue(parameter, out var moment))
            {
                moment = (zeros_like(parameter), zeros_like(parameter));
                moment.Mean.DetachFromDisposeScope();
                moment.Square.DetachFromDisposeScope();
                moments[parameter] = moment;
            }

            moment.Mean.mul_(b1).add_(gradient, alpha: oneMinusB1);
            moment.Square.mul_(b2).addcmul_(gradient, gradient, value: oneMinusB2);
            var denominator = moment.Square.sqrt().div_(sqrtCorrection2).add_(eps, HeldScalars.One);
            parameter.addcdiv_(moment.Mean, denominator, value: minusStep);
        }
    }

    public override void Dispose()
    {
        foreach (var (mean, square) in moments.Values)
        {
            mean.Dispose();
            square.Dispose();
        }

        moments.Clear();
    }
}
