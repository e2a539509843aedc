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
        Assert.Equal(0, new DropoutNetwork(new NetworkSpec { Inputs = 3, InputDropout = 0.1 }).FirstStochasticStage);
        Assert.Equal(2, new DropoutNetwork(new NetworkSpec { Inputs = 3, HiddenDropout = [0.1] }).FirstStochasticStage);
        Assert.False(new DropoutNetwork(new NetworkSpec { Inputs = 3, HiddenDropout = [0] }).IsStochastic);
    }

    public static TheoryData<NetworkSpec> Specs() =>
    [
        new NetworkSpec { Inputs = 13, Hidden = [50] },
        new NetworkSpec { Inputs = 7, Hidden = [32, 16, 8], Normalization = Normalization.BatchNorm },
        new NetworkSpec { Inputs = 5, Hidden = [12, 9], Normalization = Normalization.LayerNorm, Head = new HeadSpec { Kind = HeadKind.HeteroscedasticRegression, Outputs = 3 } },
        new NetworkSpec { Inputs = 64, Hidden = [20], Normalization = Normalization.BatchNorm, Head = new HeadSpec { Kind = HeadKind.Classification, Outputs = 10 } },
    ];

    [Theory]
    [MemberData(nameof(Specs))]
    public void Parameter_count_is_what_the_network_allocates(NetworkSpec spec)
    {
        using var network = new DropoutNetwork(spec);

        Assert.Equal(network.parameters().Sum(p => p.numel()), spec.ParameterCount);
    }

    [Fact]
    public void Max_width_is_the_widest_layer_including_inputs_and_head()
    {
        Assert.Equal(50, new NetworkSpec { Inputs = 13, Hidden = [50] }.MaxWidth);
        Assert.Equal(784, new NetworkSpec { Inputs = 784, Hidden = [64] }.MaxWidth);
        Assert.Equal(6, new NetworkSpec { Inputs = 2, Hidden = [4], Head = new HeadSpec { Kind = HeadKind.HeteroscedasticRegression, Outputs = 3 } }.MaxWidth);
    }

    [Fact]
    public void Estimates_of_absurd_specs_saturate_instead_of_overflowing()
    {
        var huge = new NetworkSpec { Inputs = int.MaxValue, Hidden = [int.MaxValue, int.MaxValue, int.MaxValue], Head = new HeadSpec { Kind = HeadKind.HeteroscedasticRegression, Outputs = int.MaxValue } };

        Assert.Equal(long.MaxValue, huge.ParameterCount);
        Assert.Equal(int.MaxValue, huge.MaxWidth);
        Assert.Equal((65_536L * 65_536) + 65_536 + 65_537, new NetworkSpec { Inputs = 65_536, Hidden = [65_536] }.ParameterCount);
    }

    [Fact]
    public void Estimates_stay_out_of_the_json()
    {
        var json = new NetworkSpec { Inputs = 3 }.ToJson();

        Assert.DoesNotContain("parameterCount", json, StringComparison.Ordinal);
        Assert.DoesNotContain("maxWidth", json, StringComparison.Ordinal);
    }
}
