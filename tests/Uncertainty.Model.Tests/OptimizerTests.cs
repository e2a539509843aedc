using TorchSharp;
using Uncertainty.Model.Training;
using static TorchSharp.torch;

namespace Uncertainty.Model.Tests;

public class OptimizerTests
{
    /// <summary>Runs <paramref name="steps"/> updates of f(w) = |A w - b|^2 from the same start and returns w.</summary>
    private static float[] Minimise(Func<IReadOnlyList<TorchSharp.Modules.Parameter>, Action> makeStep, int steps = 6)
    {
        using var generator = new Generator(3);
        var a = rand([8, 4], generator: generator);
        var b = rand([8], generator: generator);
        var w = new TorchSharp.Modules.Parameter(rand([4], generator: generator));
        var step = makeStep([w]);
        for (int i = 0; i < steps; i++)
        {
            w.grad?.zero_();
            var loss = (a.matmul(w) - b).square().sum();
            loss.backward();
            step();
        }

        return w.data<float>().ToArray();
    }

    [Theory]
    [InlineData(0.0, false)]
    [InlineData(0.9, false)]
    [InlineData(0.9, true)]
    public void Sgd_matches_TorchSharps_SGD(double momentum, bool nesterov)
    {
        var ours = Minimise(parameters =>
        {
            var optimizer = new SgdOptimizer(parameters, momentum, nesterov) { LearningRate = 0.01 };
            return optimizer.Update;
        });
        var reference = Minimise(parameters =>
        {
            var optimizer = optim.SGD(parameters, 0.01, momentum: momentum, nesterov: nesterov);
            return () => optimizer.step();
        });

        Assert.Equal(reference, ours, (x, y) => Math.Abs(x - y) < 1e-6);
    }

    [Fact]
    public void Adam_matches_TorchSharps_Adam()
    {
        var ours = Minimise(parameters =>
        {
            var optimizer = new AdamOptimizer(parameters) { LearningRate = 0.05 };
            return optimizer.Update;
        });
        var reference = Minimise(parameters =>
        {
            var optimizer = optim.Adam(parameters, 0.05);
            return () => optimizer.step();
        });

        Assert.Equal(reference, ours, (x, y) => Math.Abs(x - y) < 1e-6);
        Assert.NotEqual(Minimise(_ => () => { }), ours); // the updates moved the weights
    }
}
