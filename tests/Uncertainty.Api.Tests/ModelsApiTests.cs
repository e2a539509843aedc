using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Uncertainty.Api.Models;
using Uncertainty.Api.Predictions;

namespace Uncertainty.Api.Tests;

public sealed class ModelsApiTests(UncertaintyApiFactory factory) : IClassFixture<UncertaintyApiFactory>
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    /// <summary>Row 0 of boston.csv (medv 24.0), in its column order.</summary>
    private static readonly double[] BostonRow = [0.00632, 18.00, 2.310, 0, 0.5380, 6.5750, 65.20, 4.0900, 1, 296.0, 15.30, 396.90, 4.98];

    [Fact]
    public async Task The_default_model_is_the_Boston_regressor_in_boston_csv_column_order()
    {
        var client = await factory.ReadyClientAsync();

        var details = await client.GetFromJsonAsync<ModelDetails>("/models/boston", Json);
        var response = await client.PostAsJsonAsync("/predict", new { inputs = new[] { BostonRow }, samples = 500, seed = 1 });
        var prediction = (await response.Content.ReadFromJsonAsync<PredictResponse>(Json))!;

        Assert.Equal(["crim", "zn", "indus", "chas", "nox", "rm", "age", "dis", "rad", "tax", "ptratio", "b", "lstat"], details!.Inputs);
        Assert.Equal(["medv"], details.Outputs);
        Assert.Equal("regression", details.Task);
        Assert.Equal("boston", prediction.Model);
        Assert.InRange(prediction.Predictions[0].Mean[0], 18, 32); // true value 24.0 k$; the model saw this row in training
        Assert.True(prediction.Predictions[0].EpistemicVariance[0] > 0);
    }

    [Fact]
    public async Task Models_are_listed_with_versions_and_default_version()
    {
        var client = await factory.ReadyClientAsync();

        var models = await client.GetFromJsonAsync<List<ModelSummary>>("/models", Json);

        Assert.Contains(models!, m => m.Name == "boston" && m.Inputs == 13 && m.DefaultVersion >= 1);
        Assert.Contains(models!, m => m.Name == "toy" && m.Inputs == 1);
    }

    [Theory]
    [InlineData("/models/nosuch", HttpStatusCode.NotFound, "no model 'nosuch'")]
    [InlineData("/models/toy/versions/99/predict", HttpStatusCode.NotFound, "no version 99")]
    [InlineData("/models/nosuch/predict", HttpStatusCode.NotFound, "no model 'nosuch'")]
    public async Task Unknown_models_and_versions_are_404_problems(string path, HttpStatusCode status, string detail)
    {
        var client = await factory.ReadyClientAsync();

        var response = path.EndsWith("/predict", StringComparison.Ordinal)
            ? await client.PostAsJsonAsync(path, new { inputs = new[] { new[] { 0.0 } } })
            : await client.GetAsync(path);

        var problem = await Problems.ReadAsync(response, status);
        Assert.Contains(detail, problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_name_outside_the_allowlist_is_a_validation_problem_naming_the_field()
    {
        var client = await factory.ReadyClientAsync();

        var problem = await Problems.ReadAsync(await client.GetAsync("/models/Not..Allowed"), HttpStatusCode.BadRequest);

        Assert.True(problem.GetProperty("errors").TryGetProperty("name", out _));
    }

    [Fact]
    public async Task Switching_the_default_version_is_atomic_and_a_version_that_fails_to_load_keeps_the_old_one_serving()
    {
        var client = await factory.ReadyClientAsync();
        var toy = Path.Combine(factory.ModelStore, "toy");
        CopyDirectory(Path.Combine(toy, "1"), Path.Combine(toy, "2"));
        CopyDirectory(Path.Combine(toy, "1"), Path.Combine(toy, "3"));
        var weights = Path.Combine(toy, "3", "weights.bin");
        var bytes = File.ReadAllBytes(weights);
        bytes[bytes.Length / 2] ^= 0xFF;
        File.WriteAllBytes(weights, bytes);

        var switched = await client.PutAsJsonAsync("/models/toy/default-version", new { version = 2 });
        var afterSwitch = await client.PostAsJsonAsync("/models/toy/predict", new { inputs = new[] { new[] { 0.5 } }, samples = 20 });
        var refused = await client.PutAsJsonAsync("/models/toy/default-version", new { version = 3 });
        var afterRefusal = await client.PostAsJsonAsync("/models/toy/predict", new { inputs = new[] { new[] { 0.5 } }, samples = 20 });
        var deleteDefault = await client.DeleteAsync("/models/toy/versions/2");
        var deleteOld = await client.DeleteAsync("/models/toy/versions/1");
        var details = await client.GetFromJsonAsync<ModelDetails>("/models/toy", Json);

        Assert.Equal(HttpStatusCode.OK, switched.StatusCode);
        Assert.Equal(2, (await afterSwitch.Content.ReadFromJsonAsync<PredictResponse>(Json))!.Version);
        var problem = await Problems.ReadAsync(refused, HttpStatusCode.UnprocessableEntity);
        Assert.Contains("SHA-256", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Equal(2, (await afterRefusal.Content.ReadFromJsonAsync<PredictResponse>(Json))!.Version);
        await Problems.ReadAsync(deleteDefault, HttpStatusCode.Conflict);
        Assert.Equal(HttpStatusCode.NoContent, deleteOld.StatusCode);
        Assert.Equal(2, details!.DefaultVersion);
        Assert.Equal([2, 3], details.Versions.Select(v => v.Version));
        Assert.False(Directory.Exists(Path.Combine(toy, "1")));
    }

    private static void CopyDirectory(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var file in Directory.GetFiles(from))
        {
            File.Copy(file, Path.Combine(to, Path.GetFileName(file)));
        }
    }
}
