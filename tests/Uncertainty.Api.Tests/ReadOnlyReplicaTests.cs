using System.Net;
using System.Net.Http.Json;

namespace Uncertainty.Api.Tests;

/// <summary>Inference replicas that share a store with one writer (Uncertainty:ReadOnlyStore).</summary>
public sealed class ReadOnlyReplicaTests
{
    [Fact]
    public async Task A_reader_serves_the_writers_models_and_refuses_every_store_write()
    {
        using var writer = new UncertaintyApiFactory();
        await writer.ReadyClientAsync();
        using var reader = new UncertaintyApiFactory();
        reader.Settings["Uncertainty:ModelStore"] = writer.ModelStore;
        reader.Settings["Uncertainty:ReadOnlyStore"] = "true";
        var client = await reader.ReadyClientAsync();

        var prediction = await client.PostAsJsonAsync("/models/toy/predict", new { inputs = new[] { new[] { 0.0 } }, samples = 10, seed = 1 });
        var training = await client.PostAsJsonAsync("/training-jobs", new { model = "m", dataset = "boston" });
        var switching = await client.PutAsJsonAsync("/models/toy/default-version", new { version = 1 });
        var deleting = await client.DeleteAsync("/models/toy/versions/1");

        Assert.Equal(HttpStatusCode.OK, prediction.StatusCode);
        foreach (var refused in new[] { training, switching, deleting })
        {
            var problem = await Problems.ReadAsync(refused, HttpStatusCode.Forbidden);
            Assert.Contains("writer", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task A_reader_on_an_empty_store_waits_unready_instead_of_training()
    {
        using var reader = new UncertaintyApiFactory { SeedBuiltIns = false };
        reader.Settings["Uncertainty:ReadOnlyStore"] = "true";
        var client = reader.CreateClient();

        await Task.Delay(500);
        var ready = await client.GetAsync("/health/ready");

        Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.StatusCode);
        Assert.False(Directory.Exists(Path.Combine(reader.ModelStore, "boston")), "a reader never writes the store");
    }
}
