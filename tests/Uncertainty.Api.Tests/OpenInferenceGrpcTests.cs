using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text.Json;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Uncertainty.Api.OpenInference.Grpc;

namespace Uncertainty.Api.Tests;

/// <summary>The Open Inference Protocol v2 over gRPC (inference.GRPCInferenceService), with a client generated from the same proto.</summary>
public sealed class OpenInferenceGrpcTests(UncertaintyApiFactory factory) : IClassFixture<UncertaintyApiFactory>
{
    private const string Key = "k3y-for-tests-0123456789abcdef";

    private static GRPCInferenceService.GRPCInferenceServiceClient Client(UncertaintyApiFactory service) =>
        new(GrpcChannel.ForAddress(service.Server.BaseAddress, new GrpcChannelOptions { HttpHandler = service.Server.CreateHandler() }));

    private async Task<GRPCInferenceService.GRPCInferenceServiceClient> ReadyClientAsync()
    {
        await factory.ReadyClientAsync();
        return Client(factory);
    }

    private static ModelInferRequest Request(string model, long[] shape, IEnumerable<float> values, int samples, long seed) => new()
    {
        ModelName = model,
        Parameters = { ["samples"] = new InferParameter { Int64Param = samples }, ["seed"] = new InferParameter { Int64Param = seed } },
        Inputs = { new ModelInferRequest.Types.InferInputTensor { Name = "input", Datatype = "FP32", Shape = { shape }, Contents = new InferTensorContents { Fp32Contents = { values } } } },
    };

    private static ModelInferResponse.Types.InferOutputTensor Output(ModelInferResponse response, string name) => response.Outputs.Single(o => o.Name == name);

    [Fact]
    public async Task Health_and_server_metadata_answer()
    {
        var client = await ReadyClientAsync();

        var live = await client.ServerLiveAsync(new ServerLiveRequest());
        var ready = await client.ServerReadyAsync(new ServerReadyRequest());
        var modelReady = await client.ModelReadyAsync(new ModelReadyRequest { Name = "toy", Version = "1" });
        var metadata = await client.ServerMetadataAsync(new ServerMetadataRequest());

        Assert.True(live.Live);
        Assert.True(ready.Ready);
        Assert.True(modelReady.Ready);
        Assert.Equal("uncertainty", metadata.Name);
        Assert.Contains("parameters", metadata.Extensions);
    }

    [Fact]
    public async Task Model_metadata_matches_rest()
    {
        var client = await ReadyClientAsync();
        var http = factory.CreateClient();

        var metadata = await client.ModelMetadataAsync(new ModelMetadataRequest { Name = "digits" });
        var rest = await http.GetFromJsonAsync<JsonElement>("/v2/models/digits");

        Assert.Equal("digits", metadata.Name);
        Assert.Equal(rest.GetProperty("platform").GetString(), metadata.Platform);
        Assert.Equal(rest.GetProperty("outputs").EnumerateArray().Select(o => o.GetProperty("name").GetString()), metadata.Outputs.Select(o => o.Name));
        Assert.Equal(rest.GetProperty("inputs")[0].GetProperty("shape").EnumerateArray().Select(d => d.GetInt64()), metadata.Inputs.Single().Shape);
        Assert.Equal([-1L, 10], metadata.Outputs.Single(o => o.Name == "probabilities").Shape);
    }

    [Fact]
    public async Task Regressor_inference_gives_exactly_the_numbers_of_predict_typed_or_raw()
    {
        var client = await ReadyClientAsync();
        var http = factory.CreateClient();
        var (rows, _) = await OpenInferenceTests.ExamplesAsync(http, "boston", 2);
        var typed = Request("boston", [2, 13], rows.SelectMany(r => r), 25, 77);
        var raw = Request("boston", [2, 13], [], 25, 77);
        raw.Inputs[0].Contents = null;
        raw.RawInputContents.Add(ByteString.CopyFrom([.. rows.SelectMany(r => r).SelectMany(BitConverter.GetBytes)])); // little-endian on x64 and arm64

        var fromTyped = await client.ModelInferAsync(typed);
        var fromRaw = await client.ModelInferAsync(raw);
        var expected = await OpenInferenceTests.PredictAsync(http, "boston", rows, 25, 77);

        Assert.Equal("boston", fromTyped.ModelName);
        Assert.Equal("1", fromTyped.ModelVersion);
        Assert.Equal(25, fromTyped.Parameters["samples"].Int64Param);
        Assert.Equal(77, fromTyped.Parameters["seed"].Int64Param);
        Assert.Equal(OpenInferenceTests.RegressionOutputs, fromTyped.Outputs.Select(o => o.Name));
        Assert.Equal([2L, 1], Output(fromTyped, "mean").Shape);
        Assert.Equal(expected.EnumerateArray().Select(row => row.GetProperty("mean")[0].GetDouble()), Output(fromTyped, "mean").Contents.Fp64Contents);
        Assert.Equal(expected.EnumerateArray().Select(row => row.GetProperty("epistemicVariance")[0].GetDouble()), Output(fromTyped, "epistemic_variance").Contents.Fp64Contents);
        Assert.Equal(expected.EnumerateArray().Select(row => row.GetProperty("interval").GetProperty("upper")[0].GetDouble()), Output(fromTyped, "interval_upper").Contents.Fp64Contents);
        Assert.Equal(fromTyped.Outputs, fromRaw.Outputs);
    }

    [Fact]
    public async Task Classifier_inference_returns_the_requested_outputs_with_predicts_numbers()
    {
        var client = await ReadyClientAsync();
        var http = factory.CreateClient();
        var (rows, _) = await OpenInferenceTests.ExamplesAsync(http, "digits", 2);
        var request = Request("digits", [2, rows[0].Length], rows.SelectMany(r => r), 20, 8);
        request.Outputs.Add(new ModelInferRequest.Types.InferRequestedOutputTensor { Name = "label" });
        request.Outputs.Add(new ModelInferRequest.Types.InferRequestedOutputTensor { Name = "entropy" });

        var response = await client.ModelInferAsync(request);
        var expected = await OpenInferenceTests.PredictAsync(http, "digits", rows, 20, 8);

        Assert.Equal(["label", "entropy"], response.Outputs.Select(o => o.Name));
        Assert.Equal("BYTES", Output(response, "label").Datatype);
        Assert.Equal(expected.EnumerateArray().Select(row => row.GetProperty("label").GetString()), Output(response, "label").Contents.BytesContents.Select(b => b.ToStringUtf8()));
        Assert.Equal(expected.EnumerateArray().Select(row => row.GetProperty("entropy").GetDouble()), Output(response, "entropy").Contents.Fp64Contents);
    }

    [Fact]
    public async Task Errors_carry_the_status_code_of_their_http_status_and_the_field()
    {
        var client = await ReadyClientAsync();
        var unknownParameter = Request("toy", [1, 1], [0.5f], 10, 1);
        unknownParameter.Parameters["sampels"] = new InferParameter { Int64Param = 3 };
        var fractions = Request("toy", [1, 1], [0.5f], 10, 1);
        fractions.Parameters["interval_level"] = new InferParameter { StringParam = "0.8" };

        var unknown = await Assert.ThrowsAsync<RpcException>(() => client.ModelInferAsync(Request("nope", [1, 1], [0.5f], 10, 1)).ResponseAsync);
        var shape = await Assert.ThrowsAsync<RpcException>(() => client.ModelInferAsync(Request("toy", [1, 2], [0.5f, 1f], 10, 1)).ResponseAsync);
        var parameter = await Assert.ThrowsAsync<RpcException>(() => client.ModelInferAsync(unknownParameter).ResponseAsync);
        var metadata = await Assert.ThrowsAsync<RpcException>(() => client.ModelMetadataAsync(new ModelMetadataRequest { Name = "toy", Version = "7" }).ResponseAsync);
        var withFraction = await client.ModelInferAsync(fractions);

        Assert.Equal(StatusCode.NotFound, unknown.StatusCode);
        Assert.Equal(StatusCode.InvalidArgument, shape.StatusCode);
        Assert.Contains("inputs[0].shape", shape.Status.Detail, StringComparison.Ordinal);
        Assert.Equal(StatusCode.InvalidArgument, parameter.StatusCode);
        Assert.Contains("parameters.sampels", parameter.Status.Detail, StringComparison.Ordinal);
        Assert.Equal(StatusCode.NotFound, metadata.StatusCode);
        Assert.True(Output(withFraction, "interval_upper").Contents.Fp64Contents[0] > Output(withFraction, "mean").Contents.Fp64Contents[0]);
    }

    [Fact]
    public async Task Nan_and_infinite_elements_typed_or_raw_are_invalid_arguments_naming_the_element()
    {
        var client = await ReadyClientAsync();
        var raw = Request("toy", [2, 1], [], 10, 1);
        raw.Inputs[0].Contents = null;
        raw.RawInputContents.Add(ByteString.CopyFrom([.. BitConverter.GetBytes(0.5f), .. BitConverter.GetBytes(float.PositiveInfinity)]));

        var typed = await Assert.ThrowsAsync<RpcException>(() => client.ModelInferAsync(Request("toy", [1, 1], [float.NaN], 10, 1)).ResponseAsync);
        var fromRaw = await Assert.ThrowsAsync<RpcException>(() => client.ModelInferAsync(raw).ResponseAsync);

        Assert.Equal(StatusCode.InvalidArgument, typed.StatusCode);
        Assert.Contains("inputs[0].data[0]", typed.Status.Detail, StringComparison.Ordinal);
        Assert.Equal(StatusCode.InvalidArgument, fromRaw.StatusCode);
        Assert.Contains("inputs[0].data[1]", fromRaw.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Inference_takes_the_key_in_the_metadata_header()
    {
        using var keyed = new UncertaintyApiFactory();
        keyed.Settings["Uncertainty:ApiKeys:0"] = Key;
        keyed.Settings["Uncertainty:RequireApiKeyForInference"] = "true";
        await keyed.ReadyClientAsync();
        var client = Client(keyed);
        var request = Request("toy", [1, 1], [0.5f], 10, 1);

        var without = await Assert.ThrowsAsync<RpcException>(() => client.ModelInferAsync(request).ResponseAsync);
        var wrong = await Assert.ThrowsAsync<RpcException>(() => client.ModelInferAsync(request, new Metadata { { "x-api-key", "wrong-key-0123456789abcdef" } }).ResponseAsync);
        var right = await client.ModelInferAsync(request, new Metadata { { "x-api-key", Key } });
        var live = await client.ServerLiveAsync(new ServerLiveRequest());

        Assert.Equal(StatusCode.Unauthenticated, without.StatusCode);
        Assert.Equal(StatusCode.PermissionDenied, wrong.StatusCode);
        Assert.Single(right.Outputs, o => o.Name == "mean");
        Assert.True(live.Live);
    }

    [Fact]
    public async Task Over_the_rate_limit_a_call_gets_resource_exhausted_with_retry_after()
    {
        using var limited = new UncertaintyApiFactory();
        limited.Settings["Uncertainty:RateLimitPerMinute"] = "1";
        await limited.ReadyClientAsync(); // /health is never limited
        var client = Client(limited);

        var first = await client.ServerMetadataAsync(new ServerMetadataRequest());
        var second = await Assert.ThrowsAsync<RpcException>(() => client.ServerMetadataAsync(new ServerMetadataRequest()).ResponseAsync);
        var rest = await limited.CreateClient().GetAsync("/v2");

        Assert.Equal("uncertainty", first.Name);
        Assert.Equal(StatusCode.ResourceExhausted, second.StatusCode);
        Assert.Contains("retry", second.Status.Detail, StringComparison.OrdinalIgnoreCase);
        Assert.NotNull(second.Trailers.GetValue("retry-after"));
        await OpenInferenceTests.ErrorAsync(rest, HttpStatusCode.TooManyRequests);
        Assert.NotNull(rest.Headers.RetryAfter);
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>The service as Program composes it, on real sockets, with <paramref name="args"/> as its command line.</summary>
    private static WebApplication Host(string store, int grpcPort, params string[] args)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, EnvironmentName = "Testing" });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Uncertainty:ModelStore"] = store,
            ["Uncertainty:Device"] = "cpu",
            ["Uncertainty:GrpcPort"] = grpcPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Uncertainty:DrainSeconds"] = "0",
            ["Serilog:MinimumLevel:Default"] = "Warning",
        });
        builder.AddUncertaintyApi();
        var app = builder.Build();
        app.MapUncertaintyApi();
        return app;
    }

    [Fact]
    public async Task The_urls_from_the_command_line_serve_http_and_the_grpc_port_serves_http2()
    {
        using var store = new UncertaintyApiFactory();
        store.PrepareStore();
        int httpPort = FreePort(), grpcPort = FreePort();
        await using var app = Host(store.ModelStore, grpcPort, "--urls", $"http://127.0.0.1:{httpPort}");
        await app.StartAsync();

        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{httpPort}") };
        var live = await http.GetAsync("/v2/health/live");
        using var channel = GrpcChannel.ForAddress($"http://127.0.0.1:{grpcPort}");
        var grpcLive = await new GRPCInferenceService.GRPCInferenceServiceClient(channel).ServerLiveAsync(new ServerLiveRequest());
        await app.StopAsync();

        Assert.Equal(HttpStatusCode.OK, live.StatusCode);
        Assert.Equal(new Version(1, 1), live.Version);
        Assert.True(grpcLive.Live);
        Assert.Equal([$"http://127.0.0.1:{httpPort}", $"http://[::]:{grpcPort}"], app.Urls.Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task The_grpc_port_answers_only_grpc_calls_and_the_rest_api_stays_on_the_http_urls()
    {
        using var store = new UncertaintyApiFactory();
        store.PrepareStore();
        int httpPort = FreePort(), grpcPort = FreePort();
        await using var app = Host(store.ModelStore, grpcPort, "--urls", $"http://127.0.0.1:{httpPort}");
        await app.StartAsync();

        using var h2c = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{grpcPort}"), DefaultRequestVersion = HttpVersion.Version20, DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact };
        var models = await h2c.GetAsync("/models");
        var jobs = await h2c.PostAsync("/training-jobs", new StringContent("{}", System.Text.Encoding.UTF8, "application/json"));
        using var channel = GrpcChannel.ForAddress($"http://127.0.0.1:{grpcPort}");
        var grpcLive = await new GRPCInferenceService.GRPCInferenceServiceClient(channel).ServerLiveAsync(new ServerLiveRequest());
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{httpPort}") };
        var rest = await http.GetAsync("/models");
        await app.StopAsync();

        var problem = await Problems.ReadAsync(models, HttpStatusCode.NotFound);
        Assert.Contains("Uncertainty:GrpcPort", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.NotFound, jobs.StatusCode);
        Assert.True(grpcLive.Live);
        Assert.Equal(HttpStatusCode.OK, rest.StatusCode);
    }

    [Fact]
    public async Task A_busy_port_fails_start_with_an_error_naming_it()
    {
        using var store = new UncertaintyApiFactory();
        store.PrepareStore();
        using var busy = new TcpListener(IPAddress.Loopback, 0);
        busy.Start();
        var port = ((IPEndPoint)busy.LocalEndpoint).Port;
        await using var app = Host(store.ModelStore, FreePort(), "--urls", $"http://127.0.0.1:{port}");

        var checkedFirst = Uncertainty.Api.Hosting.Listeners.BusyEndpoint(app.Configuration); // what Program checks before starting
        var failure = await Assert.ThrowsAnyAsync<Exception>(() => app.StartAsync()); // and what it catches if the port is taken after

        var text = port.ToString(System.Globalization.CultureInfo.InvariantCulture);
        Assert.Contains(text, checkedFirst, StringComparison.Ordinal);
        Assert.True(Uncertainty.Api.Hosting.Listeners.IsPortInUse(failure, out var endpoint));
        Assert.Contains(text, endpoint, StringComparison.Ordinal);
        Assert.Null(Uncertainty.Api.Hosting.Listeners.BusyEndpoint(new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["urls"] = $"http://127.0.0.1:{FreePort()}", ["Uncertainty:GrpcPort"] = "0" }).Build()));
    }

    [Fact]
    public void A_grpc_port_that_is_also_an_http_urls_port_fails_start_naming_both()
    {
        var port = FreePort();
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["urls"] = $"http://127.0.0.1:{FreePort()};http://127.0.0.1:{port}",
            ["Uncertainty:GrpcPort"] = port.ToString(System.Globalization.CultureInfo.InvariantCulture),
        }).Build();

        var busy = Uncertainty.Api.Hosting.Listeners.BusyEndpoint(configuration);

        Assert.Equal($"gRPC port {port} (Uncertainty:GrpcPort) is the port of http://127.0.0.1:{port} too.", busy);
    }
}
