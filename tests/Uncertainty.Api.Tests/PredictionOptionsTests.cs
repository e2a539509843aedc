using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using MathNet.Numerics.Distributions;
using Uncertainty.Api.Predictions;
using Uncertainty.Model.Inference;
using Uncertainty.Model.Packaging;
using static TorchSharp.torch;

namespace Uncertainty.Api.Tests;

/// <summary>The service with a small quantile limit (1,000 kept values), so a test can cross it.</summary>
public sealed class PredictionOptionsFixture : IDisposable
{
    public PredictionOptionsFixture() => Factory.Settings["Uncertainty:MaxQuantileIntervalValues"] = "1000";

    public UncertaintyApiFactory Factory { get; } = new();

    public void Dispose() => Factory.Dispose();
}

/// <summary>mode (mc, deterministic), interval (gaussian, quantile) and the Monte Carlo standard error, through HTTP.</summary>
public sealed class PredictionOptionsTests(PredictionOptionsFixture fixture) : IClassFixture<PredictionOptionsFixture>
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    /// <summary>The built-in 1-D toy regressor (sin(3x) on [-1, 1], τ = 50).</summary>
    private const string Toy = "/models/toy/predict";

    private async Task<HttpResponseMessage> PostAsync(string path, string json)
    {
        var client = await fixture.Factory.ReadyClientAsync();
        return await client.PostAsync(path, new StringContent(json, Encoding.UTF8, "application/json"));
    }

    private async Task<(PredictResponse Response, JsonElement Raw)> PredictAsync(object body, string path = Toy)
    {
        var client = await fixture.Factory.ReadyClientAsync();
        var response = await client.PostAsJsonAsync(path, body);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var raw = await response.Content.ReadFromJsonAsync<JsonElement>();
        return (raw.Deserialize<PredictResponse>(Json)!, raw);
    }

    /// <summary>The least x in [lo, hi] with cdf(x) ≥ p, by 200 plain bisection steps (far past double precision).</summary>
    private static double BisectQuantile(Func<double, double> cdf, double p, double lo, double hi)
    {
        for (int i = 0; i < 200; i++)
        {
            var mid = (lo + hi) / 2;
            (lo, hi) = cdf(mid) < p ? (mid, hi) : (lo, mid);
        }

        return hi;
    }

    private static void AssertGaussianInterval(RowResult row, double level)
    {
        var z = Normal.InvCDF(0, 1, 0.5 + (level / 2));
        Assert.Equal(row.Mean[0] - (z * row.Std![0]), row.Interval!.Lower[0], 12);
        Assert.Equal(row.Mean[0] + (z * row.Std[0]), row.Interval.Upper[0], 12);
    }

    [Fact]
    public async Task Deterministic_mode_answers_the_weight_scaled_pass_with_the_heads_noise_only()
    {
        double[] xs = [0.3, 2.5];

        var (response, raw) = await PredictAsync(new { inputs = xs.Select(x => new[] { x }), mode = "deterministic", samples = 500, seed = 3 });

        // The same package's deterministic pass, run here outside the service.
        using var package = ModelPackage.Load(Path.Combine(fixture.Factory.ModelStore, "toy", "1"));
        using var predictor = new McPredictor(package.Network, CPU);
        var expected = predictor.PredictDeterministic(package.Description.PrepareInputs([.. xs.Select(x => (float)x)]), 2)
            .Select(package.Description.ToReportedUnits).Cast<RegressionPrediction>().ToList();
        Assert.Equal("deterministic", raw.GetProperty("mode").GetString());
        Assert.Equal(1, response.Samples);
        for (int r = 0; r < 2; r++)
        {
            var row = response.Predictions[r];
            Assert.Equal(expected[r].Mean[0], row.Mean[0], 5); // float32 passes of 16 and 2 rows: a few ulps apart at most
            Assert.Equal(0, row.EpistemicVariance[0]);
            Assert.Equal(expected[r].AleatoricVariance[0], row.AleatoricVariance![0], 12);
            Assert.Null(row.StandardError);
            AssertGaussianInterval(row, 0.95);
        }
    }

    [Fact]
    public async Task Deterministic_mode_of_a_classifier_has_no_mutual_information()
    {
        var (response, raw) = await PredictAsync(new { inputs = new[] { Enumerable.Range(0, 64).Select(i => (double)(i % 17)).ToArray() }, mode = "deterministic" }, "/models/digits/predict");

        var row = response.Predictions[0];
        Assert.Equal("deterministic", raw.GetProperty("mode").GetString());
        Assert.Equal(1, response.Samples);
        Assert.Equal(1.0, row.Probabilities!.Sum(), 9);
        Assert.All(row.ProbabilityStd!, s => Assert.Equal(0, s));
        Assert.Equal(0, row.MutualInformation);
        Assert.Equal(row.Entropy, row.ExpectedEntropy);
        Assert.Null(row.StandardError);
    }

    [Fact]
    public async Task Mc_is_the_default_mode_and_the_response_says_so()
    {
        var (plain, plainRaw) = await PredictAsync(new { inputs = new[] { new[] { 0.2 } }, samples = 64, seed = 9 });
        var (explicitMc, _) = await PredictAsync(new { inputs = new[] { new[] { 0.2 } }, samples = 64, seed = 9, mode = "mc", interval = "gaussian" });

        Assert.Equal("mc", plainRaw.GetProperty("mode").GetString());
        Assert.Equal("gaussian", plainRaw.GetProperty("predictions")[0].GetProperty("interval").GetProperty("method").GetString());
        Assert.Equal(64, plain.Samples);
        Assert.Equal(plain.Predictions[0].Mean, explicitMc.Predictions[0].Mean);
        Assert.Equal(plain.Predictions[0].Interval!.Lower, explicitMc.Predictions[0].Interval!.Lower);
    }

    [Fact]
    public async Task Quantile_interval_equals_the_mixture_quantiles_found_by_bisection_on_the_returned_passes()
    {
        const double level = 0.9;

        var (response, raw) = await PredictAsync(new { inputs = new[] { new[] { 0.3 }, new[] { 2.5 } }, samples = 200, seed = 5, interval = "quantile", intervalLevel = level, returnSamples = true });

        for (int r = 0; r < 2; r++)
        {
            var row = response.Predictions[r];
            var interval = raw.GetProperty("predictions")[r].GetProperty("interval");
            Assert.Equal("quantile", interval.GetProperty("method").GetString());
            Assert.Equal(level, interval.GetProperty("level").GetDouble());

            // The mixture (1/T) Σ N(sample_t, aleatoric) from the returned float32 passes.
            var sd = Math.Sqrt(row.AleatoricVariance![0]);
            var means = row.Samples!.Select(s => (double)s[0]).ToArray();
            double Quantile(double p) => BisectQuantile(x => means.Average(m => Normal.CDF(m, sd, x)), p, means.Min() - (10 * sd), means.Max() + (10 * sd));

            // The returned passes are float32 (relative rounding 6e-8): 1e-5 of the spread bounds what that moves a quantile.
            var scale = Math.Sqrt(row.PredictiveVariance![0]);
            Assert.Equal(Quantile(0.05), row.Interval!.Lower[0], 1e-5 * scale);
            Assert.Equal(Quantile(0.95), row.Interval.Upper[0], 1e-5 * scale);
        }
    }

    [Fact]
    public async Task With_one_pass_or_deterministic_the_quantile_interval_is_the_gaussian_one_exactly()
    {
        var body = new { inputs = new[] { new[] { 0.7 } }, samples = 1, seed = 4 };

        var (gaussian, _) = await PredictAsync(body);
        var (quantile, _) = await PredictAsync(new { body.inputs, body.samples, body.seed, interval = "quantile" });
        var (deterministicGaussian, _) = await PredictAsync(new { body.inputs, mode = "deterministic" });
        var (deterministicQuantile, _) = await PredictAsync(new { body.inputs, mode = "deterministic", interval = "quantile" });

        Assert.Equal(1, gaussian.Samples);
        Assert.Equal(0, gaussian.Predictions[0].EpistemicVariance[0]);
        Assert.Null(gaussian.Predictions[0].StandardError); // T = 1: no estimate of the spread
        Assert.Equal(gaussian.Predictions[0].Interval!.Lower, quantile.Predictions[0].Interval!.Lower);
        Assert.Equal(gaussian.Predictions[0].Interval!.Upper, quantile.Predictions[0].Interval!.Upper);
        Assert.Equal(deterministicGaussian.Predictions[0].Interval!.Lower, deterministicQuantile.Predictions[0].Interval!.Lower);
        Assert.Equal(deterministicGaussian.Predictions[0].Interval!.Upper, deterministicQuantile.Predictions[0].Interval!.Upper);
    }

    [Fact]
    public async Task Standard_error_is_the_root_of_the_epistemic_variance_over_T_and_adaptive_T_stops_on_it()
    {
        var (fixedT, _) = await PredictAsync(new { inputs = new[] { new[] { 0.1 }, new[] { 1.8 } }, samples = 300, seed = 2 });
        var (adaptive, _) = await PredictAsync(new { inputs = new[] { new[] { 0.1 }, new[] { 1.8 } }, samples = 5000, seed = 2, tolerance = 0.01 });

        Assert.All(fixedT.Predictions, row => Assert.Equal(Math.Sqrt(row.EpistemicVariance[0] / 300), row.StandardError![0], 14));
        Assert.InRange(adaptive.Samples, 32, 4999);
        Assert.All(adaptive.Predictions, row => Assert.True(row.StandardError![0] <= 0.01, $"standard error {row.StandardError[0]} above the tolerance"));
    }

    [Fact]
    public async Task A_classifiers_standard_error_is_each_probabilitys_std_over_root_T()
    {
        var (response, _) = await PredictAsync(new { inputs = new[] { Enumerable.Range(0, 64).Select(i => (double)(i % 13)).ToArray() }, samples = 400, seed = 8 }, "/models/digits/predict");

        var row = response.Predictions[0];
        Assert.Equal(row.ProbabilityStd!.Select(s => Math.Round(s / 20, 14)), row.StandardError!.Select(e => Math.Round(e, 14)));
    }

    [Theory]
    [InlineData("{\"inputs\": [[1.0]], \"mode\": \"bayes\"}", "mode")]
    [InlineData("{\"inputs\": [[1.0]], \"mode\": 1}", "mode")]
    [InlineData("{\"inputs\": [[1.0]], \"mode\": \"1\"}", "mode")]
    [InlineData("{\"inputs\": [[1.0]], \"interval\": \"percentile\"}", "interval")]
    [InlineData("{\"inputs\": [[1.0]], \"interval\": 0}", "interval")]
    public async Task Unknown_or_integer_option_values_are_refused_naming_the_field(string json, string path)
    {
        var problem = await Problems.ReadAsync(await PostAsync(Toy, json), HttpStatusCode.BadRequest);

        Assert.Contains(path, problem.GetProperty("errors").GetProperty(path)[0].GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Quantile_intervals_for_a_classifier_are_refused_naming_the_field()
    {
        var json = $"{{\"inputs\": [[{string.Join(", ", Enumerable.Repeat("0", 64))}]], \"interval\": \"quantile\"}}";

        var problem = await Problems.ReadAsync(await PostAsync("/models/digits/predict", json), HttpStatusCode.BadRequest);

        Assert.Contains("classifier", problem.GetProperty("errors").GetProperty("interval")[0].GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Quantile_intervals_beyond_the_memory_limit_are_refused_naming_the_limit()
    {
        // 2 rows x 600 passes x 1 output = 1,200 kept values, over this service's 1,000; the gaussian interval is not limited.
        const string inputs = "\"inputs\": [[0.1], [0.2]], \"samples\": 600";

        var problem = await Problems.ReadAsync(await PostAsync(Toy, $"{{{inputs}, \"interval\": \"quantile\"}}"), HttpStatusCode.BadRequest);
        var gaussian = await PostAsync(Toy, $"{{{inputs}, \"interval\": \"gaussian\"}}");
        var deterministic = await PostAsync(Toy, $"{{{inputs}, \"interval\": \"quantile\", \"mode\": \"deterministic\"}}");

        Assert.Contains("MaxQuantileIntervalValues", problem.GetProperty("errors").GetProperty("interval")[0].GetString(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, gaussian.StatusCode);
        Assert.Equal(HttpStatusCode.OK, deterministic.StatusCode); // one pass keeps nothing
    }

    /// <summary>A history for the births forecaster: weekdays 10,000 rising slowly, weekends 1,800 lower.</summary>
    private static double[] History(int days = 56) =>
        [.. Enumerable.Range(0, days).Select(d => 10_000 + (5 * d) - (new DateOnly(1986, 12, 31).AddDays(d - days + 1).DayOfWeek is DayOfWeek.Saturday or DayOfWeek.Sunday ? 1_800 : 0))];

    [Fact]
    public async Task Forecast_quantile_intervals_equal_the_quantiles_of_each_days_mixture_found_by_bisection()
    {
        // 30 passes x 28 days = 840 kept values, under this service's 1,000.
        var history = History();
        var (_, raw) = await PredictAsync(new { history, lastDate = "1986-12-31", samples = 30, seed = 6, intervalLevels = new[] { 0.8 }, interval = "quantile" }, "/models/births/forecast");
        var forecast = raw.Deserialize<ForecastResponse>(Json)!;

        // The same passes run here outside the service (the births head is heteroscedastic: every pass has its own noise),
        // in reported units and shifted by each day's baseline; their mixture's quantiles by plain bisection on its CDF.
        using var package = ModelPackage.Load(Path.Combine(fixture.Factory.ModelStore, "births", "1"));
        var setup = package.Description.Forecast!;
        var window = history[^setup.Window..].Select(v => (float)v).ToArray();
        using var predictor = new McPredictor(package.Network, CPU, outputScale: package.Description.OutputScale);
        var passes = package.Description.ToReportedUnits(predictor.Predict(new McRequest
        {
            Inputs = package.Description.PrepareInputs(setup.Rows(window, new DateOnly(1986, 12, 31))),
            Rows = setup.Horizon,
            Samples = 30,
            Seed = 6,
            KeepMixture = true,
        }));
        var baselines = setup.Baselines(window);
        Assert.Equal("mc", raw.GetProperty("mode").GetString());
        for (int h = 0; h < forecast.Steps.Count; h++)
        {
            var step = forecast.Steps[h];
            var mixture = ((RegressionPrediction)passes.Rows[h]).Mixture!;
            double Cdf(double x) => Enumerable.Range(0, 30).Average(t => Normal.CDF(mixture.Means[t] + baselines[h], Math.Sqrt(mixture.Variances[t]), x));
            double Quantile(double p) => BisectQuantile(Cdf, p, 0, 1e6);

            Assert.Equal("quantile", raw.GetProperty("steps")[h].GetProperty("intervals")[0].GetProperty("method").GetString());
            Assert.Equal(Math.Sqrt(step.EpistemicVariance / 30), step.StandardError!.Value, 9);
            // 1e-6 of the value (about 0.01 here): the two runs' float32 passes may differ in their last bits (other row layouts).
            Assert.Equal(Quantile(0.1), step.Intervals[0].Lower, 1e-6 * step.Mean);
            Assert.Equal(Quantile(0.9), step.Intervals[0].Upper, 1e-6 * step.Mean);
        }
    }

    [Fact]
    public async Task Deterministic_forecast_has_no_epistemic_part_and_no_paths()
    {
        var (_, raw) = await PredictAsync(new { history = History(), lastDate = "1986-12-31", mode = "deterministic", intervalLevels = new[] { 0.9 } }, "/models/births/forecast");
        var refused = await PostAsync("/models/births/forecast", $"{{\"history\": [{string.Join(", ", History())}], \"lastDate\": \"1986-12-31\", \"mode\": \"deterministic\", \"returnPaths\": 5}}");
        var tooMany = await PostAsync("/models/births/forecast", $"{{\"history\": [{string.Join(", ", History())}], \"lastDate\": \"1986-12-31\", \"samples\": 40, \"interval\": \"quantile\"}}");
        var forecast = raw.Deserialize<ForecastResponse>(Json)!;

        Assert.Equal("deterministic", raw.GetProperty("mode").GetString());
        Assert.Equal(1, forecast.Samples);
        Assert.All(forecast.Steps, step =>
        {
            Assert.Equal(0, step.EpistemicVariance);
            Assert.Null(step.StandardError);
            var z = Normal.InvCDF(0, 1, 0.95);
            Assert.Equal(step.Mean - (z * Math.Sqrt(step.AleatoricVariance)), step.Intervals[0].Lower, 1e-9 * step.Mean);
        });
        Assert.True((await Problems.ReadAsync(refused, HttpStatusCode.BadRequest)).GetProperty("errors").TryGetProperty("returnPaths", out _));
        Assert.True((await Problems.ReadAsync(tooMany, HttpStatusCode.BadRequest)).GetProperty("errors").TryGetProperty("interval", out _)); // 40 x 28 > 1,000
    }

    [Theory]
    [InlineData("mode=bayes", "mode")]
    [InlineData("mode=1", "mode")]
    [InlineData("interval=wide", "interval")]
    public async Task The_image_route_refuses_unknown_option_values_naming_the_parameter(string query, string field)
    {
        var client = await fixture.Factory.ReadyClientAsync();
        using var form = new MultipartFormDataContent { { new ByteArrayContent([1, 2, 3]), "image", "picture.png" } };

        var problem = await Problems.ReadAsync(await client.PostAsync($"/models/digits/predict/image?{query}", form), HttpStatusCode.BadRequest);

        Assert.True(problem.GetProperty("errors").TryGetProperty(field, out _), $"no error for '{field}' in {problem}");
    }
}
