using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Uncertainty.Api.Predictions;

namespace Uncertainty.Api.Tests;

public sealed class PredictionTests(UncertaintyApiFactory factory) : IClassFixture<UncertaintyApiFactory>
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    /// <summary>The built-in 1-D toy regressor (sin(3x) on [-1, 1]) makes the expected numbers easy to state.</summary>
    private const string Toy = "/models/toy/predict";

    private async Task<HttpResponseMessage> PostAsync(string json)
    {
        var client = await factory.ReadyClientAsync();
        return await client.PostAsync(Toy, new StringContent(json, Encoding.UTF8, "application/json"));
    }

    private async Task<PredictResponse> PredictAsync(object body)
    {
        var client = await factory.ReadyClientAsync();
        var response = await client.PostAsJsonAsync(Toy, body);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<PredictResponse>(Json))!;
    }

    [Fact]
    public async Task Toy_model_serves_mean_and_variances_with_an_interval()
    {
        var response = await PredictAsync(new { inputs = new[] { new[] { 0.0 }, new[] { 3.0 } }, samples = 500, seed = 42 });

        Assert.Equal("toy", response.Model);
        Assert.Equal(1, response.Version);
        Assert.Equal(500, response.Samples);
        var centre = response.Predictions[0];
        var far = response.Predictions[1];
        Assert.InRange(centre.Mean[0], -0.3, 0.3); // sin(0) = 0, learnt from noisy data
        Assert.True(far.EpistemicVariance[0] > 5 * centre.EpistemicVariance[0], "uncertainty should grow outside the training range [-1, 1]");
        Assert.Equal(centre.EpistemicVariance[0] + centre.AleatoricVariance![0], centre.PredictiveVariance![0], 12);
        Assert.Equal(0.95, centre.Interval!.Level);
        Assert.True(centre.Interval.Lower[0] < centre.Mean[0] && centre.Mean[0] < centre.Interval.Upper[0]);
    }

    [Fact]
    public async Task Same_seed_gives_the_same_numbers_and_no_seed_gives_fresh_masks()
    {
        var body = new { inputs = new[] { new[] { 0.5 } }, samples = 50, seed = 7 };

        var first = await PredictAsync(body);
        var second = await PredictAsync(body);
        var unseeded = await PredictAsync(new { inputs = new[] { new[] { 0.5 } }, samples = 50 });
        var again = await PredictAsync(new { inputs = new[] { new[] { 0.5 } }, samples = 50, seed = unseeded.Seed });

        Assert.Equal(first.Predictions[0].Mean, second.Predictions[0].Mean);
        Assert.Equal(first.Predictions[0].EpistemicVariance, second.Predictions[0].EpistemicVariance);
        Assert.NotEqual(first.Predictions[0].Mean, unseeded.Predictions[0].Mean);
        Assert.Equal(unseeded.Predictions[0].Mean, again.Predictions[0].Mean); // the returned seed reproduces it
    }

    [Theory]
    [InlineData("{\"inputs\": []}", "inputs")]
    [InlineData("{\"inputs\": [[1.0, 2.0]]}", "inputs[0]")]
    [InlineData("{\"inputs\": [[1.0], [2.0, 3.0]]}", "inputs[1]")]
    [InlineData("{\"inputs\": [[1.0]], \"samples\": 0}", "samples")]
    [InlineData("{\"inputs\": [[1.0]], \"samples\": 5001}", "samples")]
    [InlineData("{\"inputs\": [[1.0]], \"intervalLevel\": 1.5}", "intervalLevel")]
    [InlineData("{\"inputs\": [[1.0]], \"tolerance\": -1}", "tolerance")]
    [InlineData("{\"inputs\": [[1e300]]}", "inputs[0][0]")]
    [InlineData("{\"inputs\": [[1e400]]}", "inputs[0][0]")]
    [InlineData("{\"inputs\": [[\"NaN\"]]}", "inputs[0][0]")]
    [InlineData("{\"inputs\": [[\"Infinity\"]]}", "inputs[0][0]")]
    [InlineData("{\"inputs\": [{\"z\": 1.0}]}", "inputs[0].z")]
    [InlineData("{\"inputs\": [{}]}", "inputs[0]")]
    [InlineData("{\"inputs\": [{\"x\": \"1\"}]}", "inputs[0].x")]
    [InlineData("{\"inputs\": [7]}", "inputs[0]")]
    [InlineData("{\"inputs\": [{\"\\ud800\": 1.0}]}", "inputs[0]")]
    public async Task Invalid_requests_get_a_validation_problem_naming_the_field(string json, string field)
    {
        var problem = await Problems.ReadAsync(await PostAsync(json), HttpStatusCode.BadRequest);

        Assert.True(problem.GetProperty("errors").TryGetProperty(field, out _), $"no error for '{field}' in {problem}");
    }

    [Theory]
    [InlineData("{\"inputs\": [[1.0]", "inputs")]
    [InlineData("{\"inputs\": [[1.0]], \"samples\": \"many\"}", "samples")]
    public async Task Unreadable_bodies_get_a_bad_request_problem_naming_the_json_path(string json, string path)
    {
        var problem = await Problems.ReadAsync(await PostAsync(json), HttpStatusCode.BadRequest);

        Assert.Contains(problem.GetProperty("errors").EnumerateObject(), error => error.Name.StartsWith(path, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Rows_keyed_by_feature_name_equal_rows_in_feature_order()
    {
        var client = await factory.ReadyClientAsync();
        var row = new[] { 0.1, 18.0, 2.31, 0.0, 0.538, 6.575, 65.2, 4.09, 1.0, 296.0, 15.3, 396.9, 4.98 };
        var names = new[] { "crim", "zn", "indus", "chas", "nox", "rm", "age", "dis", "rad", "tax", "ptratio", "b", "lstat" };
        var keyed = names.Zip(row).Reverse().ToDictionary(p => p.First, p => p.Second); // order of keys is irrelevant

        var byOrder = await client.PostAsJsonAsync("/predict", new { inputs = new[] { row }, samples = 64, seed = 5 });
        var byName = await client.PostAsJsonAsync("/predict", new { inputs = new[] { keyed }, samples = 64, seed = 5 });

        var expected = (await byOrder.Content.ReadFromJsonAsync<PredictResponse>(Json))!.Predictions[0];
        var actual = (await byName.Content.ReadFromJsonAsync<PredictResponse>(Json))!.Predictions[0];
        Assert.Equal(expected.Mean, actual.Mean);
        Assert.Equal(expected.EpistemicVariance, actual.EpistemicVariance);
    }

    [Fact]
    public async Task Adaptive_samples_stop_below_the_cap_when_the_tolerance_is_loose()
    {
        var response = await PredictAsync(new { inputs = new[] { new[] { 0.2 } }, samples = 5000, seed = 3, tolerance = 0.01 });

        Assert.InRange(response.Samples, 32, 4999);
    }

    [Fact]
    public async Task Samples_are_returned_on_request()
    {
        var response = await PredictAsync(new { inputs = new[] { new[] { 0.2 } }, samples = 20, seed = 3, returnSamples = true });

        var samples = response.Predictions[0].Samples!;
        Assert.Equal(20, samples.Length);
        Assert.Equal(response.Predictions[0].Mean[0], samples.Average(s => (double)s[0]), 5);
    }
}
