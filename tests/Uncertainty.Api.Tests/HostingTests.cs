using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace Uncertainty.Api.Tests;

public sealed class HostingTests
{
    [Fact]
    public async Task The_logger_factory_makes_one_logger_per_category_and_it_still_logs()
    {
        var sink = new Sink();
        using var factory = new UncertaintyApiFactory { LogSink = sink };
        await factory.ReadyClientAsync();
        var loggers = Microsoft.Extensions.DependencyInjection.ServiceProviderServiceExtensions.GetRequiredService<Microsoft.Extensions.Logging.ILoggerFactory>(factory.Services);

        var first = loggers.CreateLogger("Uncertainty.Tests.Category");
        var again = loggers.CreateLogger("Uncertainty.Tests.Category");
        Microsoft.Extensions.Logging.LoggerExtensions.LogWarning(again, "cached logger {Probe}", 42);

        Assert.Same(first, again);
        Assert.Contains(sink.Events, e => e.RenderMessage(System.Globalization.CultureInfo.InvariantCulture) == "cached logger 42"
            && e.Properties["SourceContext"].ToString() == "\"Uncertainty.Tests.Category\"");
    }

    [Fact]
    public async Task Liveness_answers_and_readiness_reports_the_default_model()
    {
        using var factory = new UncertaintyApiFactory();
        var client = await factory.ReadyClientAsync();

        var live = await client.GetAsync("/health/live");
        var ready = await client.GetFromJsonAsync<JsonElement>("/health/ready");

        Assert.Equal(HttpStatusCode.OK, live.StatusCode);
        Assert.Equal("boston", ready.GetProperty("model").GetString());
        Assert.True(File.Exists(Path.Combine(factory.ModelStore, "boston", "1", "manifest.json")), "the built-in Boston model is saved to the store");
        Assert.True(File.Exists(Path.Combine(factory.ModelStore, "toy", "1", "manifest.json")), "the built-in toy model is saved to the store");
    }

    [Fact]
    public async Task Swagger_ui_and_the_openapi_document_are_served()
    {
        using var factory = new UncertaintyApiFactory();
        var client = factory.CreateClient();

        var ui = await client.GetAsync("/swagger/index.html");
        var document = await client.GetFromJsonAsync<JsonElement>("/openapi/v1.json");

        Assert.Equal(HttpStatusCode.OK, ui.StatusCode);
        var paths = document.GetProperty("paths");
        foreach (var path in new[] { "/predict", "/models/{name}/predict", "/models/{name}/evaluate", "/models/{name}/import", "/training-jobs", "/training-jobs/{id}", "/models", "/health/ready" })
        {
            Assert.True(paths.TryGetProperty(path, out _), $"{path} is not documented");
        }

        var predict = paths.GetProperty("/predict").GetProperty("post");
        var example = predict.GetProperty("requestBody").GetProperty("content").GetProperty("application/json").GetProperty("examples").GetProperty("rows").GetProperty("value");
        Assert.Equal(13, example.GetProperty("inputs")[0].GetArrayLength());
        Assert.True(predict.GetProperty("responses").GetProperty("200").GetProperty("content").GetProperty("application/json").TryGetProperty("example", out _));
        Assert.Equal("X-Api-Key", document.GetProperty("components").GetProperty("securitySchemes").GetProperty("ApiKey").GetProperty("name").GetString());
    }

    [Fact]
    public async Task The_explorer_page_and_its_chart_library_are_served_locally()
    {
        using var factory = new UncertaintyApiFactory();
        var client = await factory.ReadyClientAsync();

        var page = await client.GetStringAsync("/");
        var library = await client.GetAsync("/vendor/chart.umd.min.js");
        var redirect = await factory.CreateClient(new Microsoft.AspNetCore.Mvc.Testing.WebApplicationFactoryClientOptions { AllowAutoRedirect = false }).GetAsync("/explorer");
        var toy = await client.GetFromJsonAsync<JsonElement>("/models/toy");

        Assert.Contains("Uncertainty explorer", page, StringComparison.Ordinal);
        Assert.DoesNotContain("https://", page.Replace("https://www.w3.org", "", StringComparison.Ordinal), StringComparison.Ordinal); // no CDN
        Assert.Equal(HttpStatusCode.OK, library.StatusCode);
        Assert.True((await library.Content.ReadAsByteArrayAsync()).Length > 100_000);
        Assert.Equal("/", redirect.Headers.Location?.ToString());
        Assert.Equal(256, toy.GetProperty("examples").GetProperty("inputs").GetArrayLength()); // the toy model's training points, for the plot
        Assert.Equal(256, toy.GetProperty("examples").GetProperty("targets").GetArrayLength());
    }

    [Theory]
    [InlineData("Uncertainty:Device", "gpu", "Device")]
    [InlineData("Uncertainty:MaxSamples", "0", "MaxSamples")]
    [InlineData("Uncertainty:GrpcPort", "70000", "GrpcPort")]
    [InlineData("Uncertainty:DefaultModel", "../etc", "DefaultModel")]
    [InlineData("Uncertainty:LibTorchDirectory", "/no/such/libtorch", "LibTorchDirectory")]
    [InlineData("Uncertainty:ApiKeys:0", "short", "ApiKeys")]
    [InlineData("Uncertainty:RequireApiKeyForInference", "true", "RequireApiKeyForInference")]
    [InlineData("Uncertainty:QueueCapacity", "0", "QueueCapacity")]
    [InlineData("Uncertainty:BatchDelayMilliseconds", "-1", "BatchDelayMilliseconds")]
    [InlineData("Uncertainty:RateLimitPerMinute", "-5", "RateLimitPerMinute")]
    [InlineData("Uncertainty:CpuReproducibility", "sometimes", "CpuReproducibility")]
    [InlineData("Uncertainty:MaxParameters", "0", "MaxParameters")]
    [InlineData("Uncertainty:DrainSeconds", "-1", "DrainSeconds")]
    [InlineData("Uncertainty:InferenceApiKeys:0", "inference-key-0123456789abcdef", "InferenceApiKeys")]
    public async Task Invalid_settings_stop_start_up_with_the_setting_named(string key, string value, string named)
    {
        var error = await StartUpFailureAsync<OptionsValidationException>(key, value);

        Assert.Contains(named, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Cuda_on_a_machine_without_it_stops_start_up_with_the_reason()
    {
        if (Uncertainty.Model.Native.TorchBackend.EnsureInitialized().CudaAvailable)
        {
            return; // Only meaningful on CPU-only machines such as CI.
        }

        var error = await StartUpFailureAsync<InvalidOperationException>("Uncertainty:Device", "cuda");

        Assert.Contains("CUDA is not available", error.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// Starts the app in this thread with one bad setting. WebApplicationFactory runs Program on another
    /// thread and can surface a failed start as ObjectDisposedException, so start-up failures are tested here.
    /// </summary>
    private static async Task<TException> StartUpFailureAsync<TException>(string key, string value)
        where TException : Exception
    {
        var store = Path.Combine(Path.GetTempPath(), $"uncertainty-start-{Guid.NewGuid():N}");
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { EnvironmentName = "Testing" });
        builder.WebHost.UseTestServer();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Uncertainty:ModelStore"] = store,
            ["Uncertainty:Device"] = "cpu",
            ["Serilog:MinimumLevel:Default"] = "Warning",
            [key] = value,
        });
        builder.AddUncertaintyApi();
        await using var app = builder.Build();
        app.MapUncertaintyApi();
        try
        {
            return await Assert.ThrowsAsync<TException>(() => app.StartAsync());
        }
        finally
        {
            UncertaintyApiFactory.DeleteTemporaryDirectory(store);
        }
    }

    private sealed class Sink : Serilog.Core.ILogEventSink
    {
        public System.Collections.Concurrent.ConcurrentQueue<Serilog.Events.LogEvent> Events { get; } = new();

        public void Emit(Serilog.Events.LogEvent logEvent) => Events.Enqueue(logEvent);
    }
}
