using System.Text.Json;
using TorchSharp;
using Uncertainty.Model.Data;
using Uncertainty.Model.Packaging;
using Uncertainty.Model.Inference;
using Uncertainty.Model.Networks;
using Uncertainty.Model.Training;
using static TorchSharp.torch;

namespace Uncertainty.Model.Tests;

/// <summary>Recurrent and Transformer layers: their masks, padding, folding T into the batch, and learning.</summary>
public sealed class SequenceNetworkTests
{
    private static LayerSpec Layer(LayerType type) => LayerSpec.Of(type);

    /// <summary>A numeric-sequence regressor: [length, 3] steps, a two-layer LSTM or GRU with every dropout site, 2 outputs.</summary>
    internal static NetworkSpec Recurrent(LayerType type = LayerType.Lstm, int length = 8, bool naive = false, SequenceReturn returns = SequenceReturn.Last) => new()
    {
        InputShape = [length, 3],
        Layers =
        [
            new LayerSpec { Type = type, Hidden = 6, Layers = 2, InputDropout = 0.2, RecurrentDropout = 0.3, OutputDropout = 0.1, Return = returns, Naive = naive ? true : null },
            .. returns == SequenceReturn.All ? new[] { Layer(LayerType.MeanPool) } : [],
            LayerSpec.LinearTo(2),
        ],
        Head = new HeadSpec { Outputs = 2 },
    };

    /// <summary>A token classifier: embedding with word dropout, learned positions, a two-layer Transformer encoder, mean pooling.</summary>
    internal static NetworkSpec TokenTransformer(int length = 8, bool normFirst = false) => new()
    {
        InputShape = [length],
        Layers =
        [
            new LayerSpec { Type = LayerType.Embedding, Vocab = 20, Dim = 8, WordDropout = 0.1 },
            new LayerSpec { Type = LayerType.PositionalEmbedding, MaxLength = 12 },
            new LayerSpec { Type = LayerType.TransformerEncoder, DModel = 8, Heads = 2, Ffn = 16, Layers = 2, Dropout = 0.1, AttentionDropout = 0.1, NormFirst = normFirst, Activation = Activation.Gelu },
            Layer(LayerType.MeanPool),
            LayerSpec.DropoutOf(0.1),
            LayerSpec.LinearTo(3),
        ],
        Head = new HeadSpec { Kind = HeadKind.Classification, Outputs = 3 },
    };

    /// <summary>Rows of [length, 3] values whose steps past each row's length are NaN (padding).</summary>
    internal static float[] PaddedSteps(int length, params int[] lengths)
    {
        var values = TestNetworks.Inputs(lengths.Length, length * 3, seed: 17);
        for (int row = 0; row < lengths.Length; row++)
        {
            values.AsSpan((row * length * 3) + (lengths[row] * 3), (length - lengths[row]) * 3).Fill(float.NaN);
        }

        return values;
    }

    /// <summary>Token rows: ids 1..19 with repeats, zeros past each row's length.</summary>
    internal static float[] Tokens(int length, params int[] lengths)
    {
        var random = new Random(23);
        var ids = new float[lengths.Length * length];
        for (int row = 0; row < lengths.Length; row++)
        {
            for (int t = 0; t < lengths[row]; t++)
            {
                ids[(row * length) + t] = random.Next(1, 8);
            }
        }

        return ids;
    }

    [Fact]
    public void Shapes_parameters_and_mask_streams_follow_the_layers()
    {
        var lstm = Recurrent().Validate();
        var shapes = lstm.Shapes();
        Assert.Equal([6], shapes[0].Output);
        // Two stacked LSTM layers: 4 gates x (in + hidden + 2 biases) x hidden, the first reading 3 features.
        Assert.Equal((4 * 6 * (3 + 6 + 2)) + (4 * 6 * (6 + 6 + 2)) + (6 * 2) + 2, lstm.ParameterCount);
        Assert.Equal(5, new DropoutNetwork(lstm).DropoutLayers); // input and recurrent per layer, then output

        var transformer = TokenTransformer().Validate();
        Assert.Equal([8, 8], transformer.Shapes()[2].Output);
        Assert.Equal([3], transformer.Shapes()[^1].Output);
        // Embedding 20x8, positions 12x8, per encoder layer 4(8x8+8) + 2(8x16) + 16 + 8 + 4x8 (norms), head 8x3+3.
        Assert.Equal((20 * 8) + (12 * 8) + (2 * ((4 * ((8 * 8) + 8)) + (2 * 8 * 16) + 16 + 8 + (4 * 8))) + (8 * 3) + 3, transformer.ParameterCount);
        Assert.Equal(1 + 8 + 1, new DropoutNetwork(transformer).DropoutLayers); // word, 4 sites x 2 layers, the dropout layer
        Assert.True(transformer.MaxWidth >= 2 * 2 * 8 * 8, "attention scores count in the chunk width");
        Assert.True(transformer.IsSequence && transformer.IsTokenSequence);
    }

    [Theory]
    [InlineData("""{"type": "lstm", "hidden": 4, "heads": 2}""", "does not take 'dModel', 'heads'")]
    [InlineData("""{"type": "lstm"}""", "needs 'hidden'")]
    [InlineData("""{"type": "gru", "hidden": 4, "recurrentDropout": 1}""", "dropout rates in [0, 1)")]
    [InlineData("""{"type": "lstm", "hidden": 4, "layers": 0}""", "'layers' between 1 and 64")]
    [InlineData("""{"type": "transformerEncoder", "dModel": 3, "heads": 2, "ffn": 8}""", "'heads' of at least 1 dividing dModel (3)")]
    [InlineData("""{"type": "transformerEncoder", "dModel": 5, "heads": 1, "ffn": 8}""", "'dModel' equal to the features reaching it (3)")]
    [InlineData("""{"type": "positionalEmbedding", "maxLength": 4}""", "'maxLength' of at least the sequence length 6")]
    [InlineData("""{"type": "embedding", "vocab": 10, "dim": 4}""", "must be the first layer")]
    public void Sequence_layers_that_do_not_fit_are_refused_naming_the_layer_and_field(string layer, string problem)
    {
        var json = $$"""{"inputShape": [6, 3], "layers": [{{layer}}, {"type": "flatten"}, {"type": "linear", "out": 1}]}""";
        var error = Assert.Throws<ArgumentException>(() => NetworkSpec.FromJson(json));
        Assert.Contains("layers[0]", error.Message);
        Assert.Contains(problem, error.Message);
    }

    [Theory]
    [InlineData("""{"type": "lstm", "hidden": 4, "recurentDropout": 0.5}""", "recurentDropout")]
    [InlineData("""{"type": 21, "hidden": 4}""", "type")]
    [InlineData("""{"type": "lstm", "hidden": 4, "return": 1}""", "return")]
    public void Misspelt_fields_and_numbers_for_names_are_refused_not_ignored(string layer, string field)
    {
        var json = $$"""{"inputShape": [6, 3], "layers": [{{layer}}, {"type": "linear", "out": 1}]}""";
        var error = Assert.ThrowsAny<System.Text.Json.JsonException>(() => NetworkSpec.FromJson(json));
        Assert.Contains(field, error.Message + error.Path);
    }

    /// <summary>
    /// The LSTM's input mask observed directly: with the forget gate shut, input and output gates open and no recurrent
    /// weights, hidden unit j at step t is tanh(tanh(5 m_j x)) for input x = 1: zero exactly where input unit j is dropped.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_variational_input_mask_is_the_same_at_every_step_and_differs_across_samples_while_a_naive_one_changes_per_step(bool naive)
    {
        const int length = 12, units = 16, samples = 64;
        var spec = new NetworkSpec
        {
            InputShape = [length, units],
            Layers = [new LayerSpec { Type = LayerType.Lstm, Hidden = units, InputDropout = 0.5, Return = SequenceReturn.All, Naive = naive ? true : null }, Layer(LayerType.MeanPool), LayerSpec.LinearTo(1)],
        };
        using var network = TestNetworks.Create(spec);
        using (no_grad())
        {
            var parameters = network.named_parameters().ToDictionary(p => p.name, p => p.parameter);
            var inputWeight = parameters["layers.0.weight_ih_l0"].zero_();
            inputWeight.narrow(0, 2 * units, units).copy_(eye(units).mul(5));
            parameters["layers.0.weight_hh_l0"].zero_();
            parameters["layers.0.bias_hh_l0"].zero_();
            parameters["layers.0.bias_ih_l0"].copy_(cat([full(units, 20f), full(units, -20f), zeros(units), full(units, 20f)]));
        }

        using var masks = new DropoutMasks(CPU);
        var plan = MaskPlan.Create([.. Enumerable.Repeat(9UL, samples)], [.. Enumerable.Range(0, samples).Select(i => (long)i)], network.DropoutLayers, CPU);
        using var scope = NewDisposeScope();
        using var inference = inference_mode();
        var hidden = network.RunStages(ones(samples, length * units), 0, 1, plan, masks); // [samples, L, units]
        var dropped = hidden.abs().lt(1e-3).to(ScalarType.Float32);

        var droppedFraction = dropped.mean().item<float>();
        // 64 x 12 x 16 = 12,288 draws at p = 0.5 (naive) or 1,024 distinct ones (variational): 6 standard errors of the latter.
        Assert.InRange(droppedFraction, 0.5 - (6 * Math.Sqrt(0.25 / (samples * units))), 0.5 + (6 * Math.Sqrt(0.25 / (samples * units))));
        var changesOverSteps = dropped.narrow(1, 1, length - 1).ne(dropped.narrow(1, 0, length - 1)).to(ScalarType.Float32).mean().item<float>();
        var firstSteps = dropped.select(1, 0);
        var differsAcrossSamples = firstSteps.narrow(0, 1, samples - 1).ne(firstSteps.narrow(0, 0, samples - 1)).to(ScalarType.Float32).mean().item<float>();
        Assert.InRange(differsAcrossSamples, 0.4, 0.6); // two independent masks disagree on half their units
        if (naive)
        {
            Assert.InRange(changesOverSteps, 0.4, 0.6);
        }
        else
        {
            Assert.Equal(0f, changesOverSteps);
        }
    }

    /// <summary>
    /// Attention dropout read off the attention weights: with zero queries and keys every weight is 1/L, and with values
    /// equal to the one-hot step codes the attention output of query q is its weight row. Dropout zeroes about p of the
    /// weights and scales the others by 1/(1-p); the rows are not renormalised (PyTorch's F.dropout on the weights).
    /// </summary>
    [Fact]
    public void Attention_dropout_zeroes_about_p_of_the_weights_and_scales_the_rest_without_renormalising()
    {
        const int length = 16, samples = 200;
        const double p = 0.3;
        var spec = new LayerSpec { Type = LayerType.TransformerEncoder, DModel = length, Heads = 1, Ffn = 4, Dropout = 0, AttentionDropout = p };
        using var layer = new TransformerEncoderStack.EncoderLayer(spec, length, [0, -1, -1, -1]);
        using (no_grad())
        {
            var parameters = layer.named_parameters().ToDictionary(q => q.name, q => q.parameter);
            parameters["self_attn.in_proj_weight"].zero_().narrow(0, 2 * length, length).copy_(eye(length));
            parameters["self_attn.in_proj_bias"].zero_();
            parameters["self_attn.out_proj.weight"].copy_(eye(length));
            parameters["self_attn.out_proj.bias"].zero_();
        }

        using var masks = new DropoutMasks(CPU);
        var plan = MaskPlan.Create([.. Enumerable.Repeat(3UL, samples)], [.. Enumerable.Range(0, samples).Select(i => (long)i)], 1, CPU);
        using var scope = NewDisposeScope();
        using var inference = inference_mode();
        var weights = layer.Attend(eye(length).expand(samples, length, length), new PassMasks(plan, masks, DropoutKind.Inverted, valid: null));

        var values = weights.data<float>().ToArray();
        double zeroFraction = values.Count(v => v == 0) / (double)values.Length;
        double standardError = Math.Sqrt(p * (1 - p) / values.Length);
        Assert.InRange(zeroFraction, p - (5 * standardError), p + (5 * standardError));
        Assert.All(values.Where(v => v != 0), v => Assert.Equal(1.0 / length / (1 - p), v, 1e-6));
        var rowSums = weights.sum(-1).data<float>().ToArray();
        Assert.Contains(rowSums, sum => Math.Abs(sum - 1) > 0.1); // not renormalised
        Assert.Equal(1.0, rowSums.Average(), 0.02); // yet 1 in expectation (inverted scaling)
    }

    /// <summary>
    /// A sequence padded to the model's length gives what the same weights give to it unpadded in a model of its own length:
    /// recurrent masks are keyed by (sample, unit) or (sample, step, unit), never by the padded length, so this holds for MC too.
    /// </summary>
    [Theory]
    [InlineData(LayerType.Lstm, false, SequenceReturn.Last)]
    [InlineData(LayerType.Gru, false, SequenceReturn.All)]
    [InlineData(LayerType.Lstm, true, SequenceReturn.All)]
    public void Padding_never_changes_a_recurrent_result_deterministic_or_MC(LayerType type, bool naive, SequenceReturn returns)
    {
        int[] lengths = [5, 1, 3];
        using var padded = TestNetworks.Predictor(Recurrent(type, length: 8, naive, returns));
        var inputs = PaddedSteps(8, lengths);
        var together = padded.Predict(new McRequest { Inputs = inputs, Rows = 3, Samples = 50, Seed = 4 });
        var deterministic = padded.PredictDeterministic(inputs, 3);

        for (int row = 0; row < lengths.Length; row++)
        {
            using var exact = TestNetworks.Predictor(Recurrent(type, length: lengths[row], naive, returns)); // same seed, same weights
            var alone = inputs.AsSpan(row * 24, lengths[row] * 3).ToArray();
            var mc = exact.Predict(new McRequest { Inputs = alone, Rows = 1, Samples = 50, Seed = 4 });
            var rowOfMerged = (RegressionPrediction)together.Rows[row];
            TestNetworks.AssertClose(((RegressionPrediction)mc.Rows[0]).Mean, rowOfMerged.Mean);
            TestNetworks.AssertClose(((RegressionPrediction)mc.Rows[0]).EpistemicVariance, rowOfMerged.EpistemicVariance);
            TestNetworks.AssertClose(((RegressionPrediction)exact.PredictDeterministic(alone, 1)[0]).Mean, ((RegressionPrediction)deterministic[row]).Mean);
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Padding_never_changes_a_Transformer_result(bool normFirst)
    {
        int[] lengths = [6, 2, 4];
        using var padded = TestNetworks.Predictor(TokenTransformer(length: 8, normFirst));
        var inputs = Tokens(8, lengths);
        var deterministic = padded.PredictDeterministic(inputs, 3);
        for (int row = 0; row < lengths.Length; row++)
        {
            using var exact = TestNetworks.Predictor(TokenTransformer(length: lengths[row], normFirst));
            var alone = inputs.AsSpan(row * 8, lengths[row]).ToArray();
            TestNetworks.AssertClose(((ClassPrediction)exact.PredictDeterministic(alone, 1)[0]).Probabilities, ((ClassPrediction)deterministic[row]).Probabilities);
        }
    }

    public static TheoryData<string> Families() => ["lstm", "gru", "transformer"];

    private static NetworkSpec Family(string name) => name switch
    {
        "lstm" => Recurrent(LayerType.Lstm),
        "gru" => Recurrent(LayerType.Gru, returns: SequenceReturn.All),
        _ => TokenTransformer(),
    };

    private static float[] FamilyInputs(string name, params int[] lengths) => name == "transformer" ? Tokens(8, lengths) : PaddedSteps(8, lengths);

    [Theory]
    [MemberData(nameof(Families))]
    public void Batched_rows_equal_each_row_alone_and_merged_requests_equal_each_request_alone(string family)
    {
        var spec = Family(family);
        using var predictor = TestNetworks.Predictor(spec);
        int width = spec.Inputs;
        var inputs = FamilyInputs(family, 8, 3, 5, 1);
        var batched = predictor.Predict(new McRequest { Inputs = inputs, Rows = 4, Samples = 60, Seed = 11 });
        for (int row = 0; row < 4; row++)
        {
            var alone = predictor.Predict(new McRequest { Inputs = inputs.AsSpan(row * width, width).ToArray(), Rows = 1, Samples = 60, Seed = 11 });
            TestNetworks.AssertSamePrediction(alone, new McPrediction(batched.SamplesUsed, [batched.Rows[row]], batched.MaxStandardError, false));
        }

        McRequest[] requests =
        [
            new() { Inputs = inputs.AsSpan(0, width).ToArray(), Rows = 1, Samples = 40, Seed = 1 },
            new() { Inputs = inputs.AsSpan(width, 3 * width).ToArray(), Rows = 3, Samples = 25, Seed = 2, ReturnSamples = true },
            new() { Inputs = inputs.AsSpan(0, width).ToArray(), Rows = 1, Samples = 40, Seed = 3 },
        ];
        var merged = predictor.Predict(requests);
        for (int i = 0; i < requests.Length; i++)
        {
            TestNetworks.AssertSamePrediction(predictor.Predict(requests[i]), merged[i]);
        }

        Assert.NotEqual(Summary(merged[0]), Summary(merged[2])); // other seeds, other masks
    }

    [Theory]
    [MemberData(nameof(Families))]
    public void A_chunked_run_equals_an_unchunked_one_and_T_folded_equals_a_loop_of_single_samples(string family)
    {
        var spec = Family(family);
        var inputs = FamilyInputs(family, 8, 2, 6);
        var request = new McRequest { Inputs = inputs, Rows = 3, Samples = 30, Seed = 5, ReturnSamples = true };
        using var whole = TestNetworks.Predictor(spec);
        using var oneSampleAtATime = TestNetworks.Predictor(spec, new McOptions { MaxChunkElements = 3L * spec.MaxWidth });

        Assert.Equal(3, oneSampleAtATime.ChunkRows); // one sample of three rows per pass: the loop over T
        TestNetworks.AssertSamePrediction(whole.Predict(request), oneSampleAtATime.Predict(request));
    }

    private static double[] Summary(McPrediction prediction) => prediction.Rows[0] switch
    {
        RegressionPrediction r => [.. r.Mean, .. r.EpistemicVariance],
        ClassPrediction c => [.. c.Probabilities],
        _ => [],
    };

    [Fact]
    public void A_small_LSTM_learns_the_sign_of_a_variable_length_sum()
    {
        const int length = 10, rows = 1200;
        var random = new Random(5);
        var features = new float[rows * length];
        var targets = new float[rows];
        for (int row = 0; row < rows; row++)
        {
            int steps = random.Next(2, length + 1);
            double sum = 0;
            for (int t = 0; t < length; t++)
            {
                float value = t < steps ? (float)((random.NextDouble() * 2) - 1) : float.NaN;
                features[(row * length) + t] = value;
                sum += t < steps ? value : 0;
            }

            targets[row] = sum > 0 ? 1 : 0;
        }

        var spec = new NetworkSpec
        {
            InputShape = [length, 1],
            Layers = [new LayerSpec { Type = LayerType.Lstm, Hidden = 16, InputDropout = 0.05, RecurrentDropout = 0.1 }, LayerSpec.LinearTo(2)],
            Head = new HeadSpec { Kind = HeadKind.Classification, Outputs = 2 },
        };
        var data = new Dataset("sums", [.. Enumerable.Range(0, length).Select(t => $"t{t}")], features, "positive", targets, ["no", "yes"]);
        var (train, test) = (data.Subset([.. Enumerable.Range(0, 1000)]), data.Subset([.. Enumerable.Range(1000, 200)]));

        using var package = TrainingPipeline.Fit(train, spec, new TrainingOptions { Epochs = 25, BatchSize = 32, LearningRate = 1e-2, Optimizer = OptimizerKind.Adam, Seed = 3, ValidationFraction = 0 });
        using var predictor = new McPredictor(package.Network, CPU);
        var prediction = predictor.Predict(new McRequest { Inputs = package.Description.PrepareInputs(test.Features), Rows = test.Rows, Samples = 20, Seed = 1 });

        // Chance is about 50 %; the sign of a sum of up to 10 uniform steps needs the whole (variable-length) sequence.
        double accuracy = prediction.Rows.Select((row, i) => ((ClassPrediction)row).Label == (int)test.Targets[i] ? 1.0 : 0.0).Average();
        Assert.True(accuracy >= 0.9, $"accuracy {accuracy:P1}");
    }

    [Fact]
    public void A_small_Transformer_learns_whether_a_token_occurs()
    {
        const int length = 8, rows = 1200;
        var random = new Random(9);
        var features = new float[rows * length];
        var targets = new float[rows];
        for (int row = 0; row < rows; row++)
        {
            int steps = random.Next(1, length + 1);
            for (int t = 0; t < steps; t++)
            {
                features[(row * length) + t] = random.Next(1, 20);
            }

            targets[row] = features.AsSpan(row * length, length).Contains(7f) ? 1 : 0;
        }

        var spec = TokenTransformer(length) with { Head = new HeadSpec { Kind = HeadKind.Classification, Outputs = 2 } };
        spec = spec with { Layers = [.. spec.Layers!.Take(spec.Layers!.Count - 1), LayerSpec.LinearTo(2)] };
        var data = new Dataset("tokens", [.. Enumerable.Range(0, length).Select(t => $"t{t}")], features, "has7", targets, ["no", "yes"]);
        var (train, test) = (data.Subset([.. Enumerable.Range(0, 1000)]), data.Subset([.. Enumerable.Range(1000, 200)]));

        using var package = TrainingPipeline.Fit(train, spec, new TrainingOptions { Epochs = 20, BatchSize = 32, LearningRate = 3e-3, Optimizer = OptimizerKind.AdamW, Seed = 3, ValidationFraction = 0 });
        using var predictor = new McPredictor(package.Network, CPU);
        var prediction = predictor.Predict(new McRequest { Inputs = package.Description.PrepareInputs(test.Features), Rows = test.Rows, Samples = 20, Seed = 1 });

        double accuracy = prediction.Rows.Select((row, i) => ((ClassPrediction)row).Label == (int)test.Targets[i] ? 1.0 : 0.0).Average();
        Assert.True(accuracy >= 0.9, $"accuracy {accuracy:P1}"); // chance: about 65 % (no 7 in most rows)
    }

    /// <summary>
    /// The LSTM fixture's PyTorch reference also has MC statistics with naive (per-step) masks: our naive option matches them
    /// within Monte Carlo error, and our variational masks do not (the fixture tells the two apart by over 10 standard errors).
    /// </summary>
    [Fact]
    public void Naive_masks_match_PyTorchs_per_step_reference_and_variational_ones_do_not()
    {
        var folder = Path.Combine(AppContext.BaseDirectory, "Reference");
        var variational = NetworkSpec.FromJson(File.ReadAllText(Path.Combine(folder, "lstm-spec.json")));
        var naive = variational with { Layers = [.. variational.Layers!.Select(l => l.IsRecurrent ? l with { Naive = true } : l)] };
        using var reference = JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, "lstm-reference.json")));
        var root = reference.RootElement;
        double[][] Matrix(JsonElement e) => [.. e.EnumerateArray().Select(row => row.EnumerateArray().Select(v => v.GetDouble()).ToArray())];
        var inputs = Matrix(root.GetProperty("inputs"));
        var lengths = root.GetProperty("lengths").EnumerateArray().Select(l => l.GetInt32()).ToArray();
        var naiveMc = root.GetProperty("naiveMc");
        var (theirMean, theirVariance, varianceError) = (Matrix(naiveMc.GetProperty("mean")), Matrix(naiveMc.GetProperty("variance")), Matrix(naiveMc.GetProperty("varianceStandardError")));
        var meanError = Matrix(naiveMc.GetProperty("meanStandardError"));
        int rows = inputs.Length, steps = variational.ResolvedInputShape[0], features = variational.ResolvedInputShape[1];
        float[] flat = [.. inputs.SelectMany(row => row.Select(v => (float)v))];
        for (int r = 0; r < rows; r++)
        {
            flat.AsSpan((r * steps * features) + (lengths[r] * features), (steps - lengths[r]) * features).Fill(float.NaN);
        }

        (double[] Mean, double[] Variance)[] Predict(NetworkSpec spec)
        {
            using var weights = File.OpenRead(Path.Combine(folder, "lstm.safetensors"));
            using var package = SafetensorsImport.Import(weights, new ModelDescription { Network = spec, InputScaling = Standardizer.Identity(spec.Inputs) });
            using var predictor = new McPredictor(package.Network, CPU);
            var prediction = predictor.Predict(new McRequest { Inputs = flat, Rows = rows, Samples = 20_000, Seed = 2016 });
            return [.. prediction.Rows.Cast<RegressionPrediction>().Select(p => (p.Mean, p.EpistemicVariance))];
        }

        var ours = Predict(naive);
        var variationalOurs = Predict(variational);
        double worstVariational = 0;
        for (int r = 0; r < rows; r++)
        {
            for (int o = 0; o < ours[r].Mean.Length; o++)
            {
                double meanBound = 4.5 * Math.Sqrt(2) * meanError[r][o], varianceBound = 4.5 * Math.Sqrt(2) * varianceError[r][o];
                Assert.True(Math.Abs(ours[r].Mean[o] - theirMean[r][o]) <= meanBound, $"row {r} output {o}: naive MC mean {ours[r].Mean[o]} vs PyTorch's {theirMean[r][o]}");
                Assert.True(Math.Abs(ours[r].Variance[o] - theirVariance[r][o]) <= varianceBound, $"row {r} output {o}: naive MC variance {ours[r].Variance[o]} vs PyTorch's {theirVariance[r][o]}");
                worstVariational = Math.Max(worstVariational, Math.Abs(variationalOurs[r].Variance[o] - theirVariance[r][o]) / (Math.Sqrt(2) * varianceError[r][o]));
            }
        }

        Assert.True(worstVariational > 6, $"variational masks are within {worstVariational:F1} standard errors of the naive reference: the fixture cannot tell them apart");
    }
}
