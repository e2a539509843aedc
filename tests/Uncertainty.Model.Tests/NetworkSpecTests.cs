using Uncertainty.Model.Networks;

namespace Uncertainty.Model.Tests;

public class NetworkSpecTests
{
    [Fact]
    public void Spec_round_trips_through_json_with_readable_enums()
    {
        var spec = new NetworkSpec
        {
            Inputs = 13,
            Hidden = [50, 20],
            Activation = Activation.Tanh,
            InputDropout = 0.1,
            HiddenDropout = [0.5, 0.2],
            DropoutKind = DropoutKind.Standard,
            Normalization = Normalization.LayerNorm,
            Head = new HeadSpec { Kind = HeadKind.HeteroscedasticRegression, Outputs = 2 },
        };

        var json = spec.ToJson();
        var back = NetworkSpec.FromJson(json);

        Assert.Contains("\"heteroscedasticRegression\"", json, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("\"inputDropout\"", json, StringComparison.Ordinal);
        Assert.Equal(spec.Hidden, back.Hidden);
        Assert.Equal(spec.HiddenDropout, back.HiddenDropout);
        Assert.Equal(spec with { Hidden = back.Hidden, HiddenDropout = back.HiddenDropout }, back);
        Assert.Equal(4, back.HeadWidth);
    }

    [Theory]
    [InlineData("{\"inputs\": 0}", "inputs")]
    [InlineData("{\"inputs\": 3, \"hidden\": []}", "hidden")]
    [InlineData("{\"inputs\": 3, \"inputDropout\": 1.0}", "inputDropout")]
    [InlineData("{\"inputs\": 3, \"hidden\": [4, 4], \"hiddenDropout\": [0.1, 0.2, 0.3]}", "hiddenDropout")]
    [InlineData("{\"inputs\": 3, \"head\": {\"kind\": \"classification\", \"outputs\": 1}}", "head.outputs")]
    [InlineData("{\"inputs\": 3, \"head\": {\"tau\": -1}}", "head.tau")]
    public void Invalid_specs_name_the_field(string json, string field)
    {
        var error = Assert.Throws<ArgumentException>(() => NetworkSpec.FromJson(json));

        Assert.Contains($"'{field}'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Prefix_ends_at_the_first_positive_dropout()
    {
        Assert.Equal(0, new DropoutMlp(new NetworkSpec { Inputs = 3, InputDropout = 0.1 }).FirstStochasticStage);
        Assert.Equal(2, new DropoutMlp(new NetworkSpec { Inputs = 3, HiddenDropout = [0.1] }).FirstStochasticStage);
        Assert.False(new DropoutMlp(new NetworkSpec { Inputs = 3, HiddenDropout = [0] }).IsStochastic);
    }
}
