using System.Buffers.Binary;
using System.Text;
using Google.Protobuf;
using Grpc.Core;
using Microsoft.AspNetCore.Authorization;
using Uncertainty.Api.OpenInference.Grpc;
using Uncertainty.Api.Problems;
using Uncertainty.Api.Security;

namespace Uncertainty.Api.OpenInference;

/// <summary>
/// The Open Inference Protocol v2 over gRPC (inference.GRPCInferenceService), on <see cref="OpenInferenceService"/> as
/// REST is: same translation, validation, limits, batching and keys (ModelInfer needs the inference scope, the key in
/// the x-api-key metadata header). Inputs come as typed contents or little-endian raw_input_contents; outputs go out as
/// typed contents (fp64_contents, bytes_contents for label).
/// </summary>
public sealed class OpenInferenceGrpcService(OpenInferenceService inference, IAuthorizationService authorization) : GRPCInferenceService.GRPCInferenceServiceBase
{
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    public override Task<ServerLiveResponse> ServerLive(ServerLiveRequest request, ServerCallContext context) =>
        Task.FromResult(new ServerLiveResponse { Live = true });

    public override Task<ServerReadyResponse> ServerReady(ServerReadyRequest request, ServerCallContext context) =>
        Task.FromResult(new ServerReadyResponse { Ready = inference.Ready });

    public override Task<ModelReadyResponse> ModelReady(ModelReadyRequest request, ServerCallContext context) =>
        Task.FromResult(new ModelReadyResponse { Ready = inference.ModelReady(request.Name, request.Version) });

    public override Task<ServerMetadataResponse> ServerMetadata(ServerMetadataRequest request, ServerCallContext context) =>
        Task.FromResult(new ServerMetadataResponse { Name = OpenInferenceService.Server.Name, Version = OpenInferenceService.Server.Version, Extensions = { OpenInferenceService.Server.Extensions } });

    public override Task<ModelMetadataResponse> ModelMetadata(ModelMetadataRequest request, ServerCallContext context)
    {
        var metadata = inference.Metadata(request.Name, request.Version);
        return Task.FromResult(new ModelMetadataResponse
        {
            Name = metadata.Name,
            Versions = { metadata.Versions },
            Platform = metadata.Platform,
            Inputs = { metadata.Inputs.Select(Tensor) },
            Outputs = { metadata.Outputs.Select(Tensor) },
        });
    }

    public override async Task<ModelInferResponse> ModelInfer(ModelInferRequest request, ServerCallContext context)
    {
        await AuthorizeAsync(context);
        var result = await inference.InferAsync(request.ModelName, request.ModelVersion, Decode(request), context.CancellationToken);
        var response = new ModelInferResponse
        {
            ModelName = result.ModelName,
            ModelVersion = result.ModelVersion.ToString(System.Globalization.CultureInfo.InvariantCulture),
            Id = result.Id ?? "",
            Parameters =
            {
                ["samples"] = new InferParameter { Int64Param = result.Samples },
                ["seed"] = result.Seed <= long.MaxValue ? new InferParameter { Int64Param = (long)result.Seed } : new InferParameter { StringParam = result.Seed.ToString(System.Globalization.CultureInfo.InvariantCulture) },
            },
        };
        foreach (var output in result.Outputs)
        {
            var contents = new InferTensorContents();
            if (output.Numbers is { } numbers)
            {
                contents.Fp64Contents.Add(numbers);
            }
            else
            {
                contents.BytesContents.Add(output.Strings!.Select(ByteString.CopyFromUtf8));
            }

            response.Outputs.Add(new ModelInferResponse.Types.InferOutputTensor { Name = output.Name, Datatype = output.Datatype, Shape = { output.Shape }, Contents = contents });
        }

        return response;
    }

    /// <summary>The inference policy /predict has; the key travels in the x-api-key metadata header, read by the same authentication.</summary>
    private async Task AuthorizeAsync(ServerCallContext context)
    {
        var http = context.GetHttpContext();
        if (!(await authorization.AuthorizeAsync(http.User, ApiKeyPolicies.Inference)).Succeeded)
        {
            throw http.Request.Headers.ContainsKey(ApiKeys.Header)
                ? new RpcException(new Status(StatusCode.PermissionDenied, $"The {ApiKeys.Header} header does not hold a valid key."))
                : new RpcException(new Status(StatusCode.Unauthenticated, $"This endpoint needs an API key in the {ApiKeys.Header} header."));
        }
    }

    private static ModelMetadataResponse.Types.TensorMetadata Tensor(TensorMetadata tensor) =>
        new() { Name = tensor.Name, Datatype = tensor.Datatype, Shape = { tensor.Shape } };

    /// <summary>The protobuf request as the protocol's tensors; every problem is keyed by its field.</summary>
    internal static InferCall Decode(ModelInferRequest request)
    {
        var errors = new Dictionary<string, string[]>();
        bool raw = request.RawInputContents.Count > 0;
        if (raw && request.RawInputContents.Count != request.Inputs.Count)
        {
            errors["raw_input_contents"] = [$"Give one raw_input_contents entry per input, in the order of inputs: {request.Inputs.Count} inputs, {request.RawInputContents.Count} entries."];
            throw new RequestValidationException(errors);
        }

        var inputs = new List<InferInput>();
        for (int i = 0; i < request.Inputs.Count; i++)
        {
            var tensor = request.Inputs[i];
            var field = $"inputs[{i}]";
            if (raw && tensor.Contents is not null)
            {
                errors[$"{field}.contents"] = ["Send contents or raw_input_contents, not both."];
                continue;
            }

            var (numbers, strings) = raw ? FromRaw(tensor.Datatype, request.RawInputContents[i], field, errors) : FromContents(tensor.Datatype, tensor.Contents, field, errors);
            var input = new InferInput(field, tensor.Name, tensor.Datatype, [.. tensor.Shape], numbers, strings, Parameters(tensor.Parameters, $"{field}.parameters", errors));
            InferInputs.Check(input, numbers?.Length ?? strings?.Length ?? 0, errors);
            inputs.Add(input);
        }

        var parameters = Parameters(request.Parameters, "parameters", errors);
        var outputs = request.Outputs.Select((output, i) => new InferRequestedOutput(output.Name, Parameters(output.Parameters, $"outputs[{i}].parameters", errors))).ToList();
        return errors.Count > 0 ? throw new RequestValidationException(errors) : new InferCall(string.IsNullOrEmpty(request.Id) ? null : request.Id, parameters, inputs, outputs);
    }

    private static Dictionary<string, object> Parameters(Google.Protobuf.Collections.MapField<string, InferParameter> parameters, string field, Dictionary<string, string[]> errors) =>
        InferInputs.Parameters(
            parameters.Select(parameter => KeyValuePair.Create(parameter.Key, parameter.Value?.ParameterChoiceCase switch
            {
                InferParameter.ParameterChoiceOneofCase.BoolParam => parameter.Value.BoolParam,
                InferParameter.ParameterChoiceOneofCase.Int64Param => parameter.Value.Int64Param,
                InferParameter.ParameterChoiceOneofCase.StringParam => parameter.Value.StringParam,
                _ => (object?)null,
            })),
            field,
            "A parameter holds bool_param, int64_param or string_param (send fractions as strings).",
            errors);

    /// <summary>Typed contents: the field of the tensor's datatype.</summary>
    private static (double[]? Numbers, string[]? Strings) FromContents(string datatype, InferTensorContents? contents, string field, Dictionary<string, string[]> errors)
    {
        contents ??= new InferTensorContents();
        switch (datatype)
        {
            case InferDatatypes.Fp32: return ([.. contents.Fp32Contents.Select(v => (double)v)], null);
            case InferDatatypes.Fp64: return ([.. contents.Fp64Contents], null);
            case InferDatatypes.Int32Type: return ([.. contents.IntContents.Select(v => (double)v)], null);
            case InferDatatypes.Int64Type: return ([.. contents.Int64Contents.Select(v => (double)v)], null);
            case InferDatatypes.Bytes: return (null, Texts(contents.BytesContents, field, errors));
            default: return (null, null); // the datatype's problem is reported by InferInputs.Check
        }
    }

    /// <summary>raw_input_contents: row-major little-endian elements; BYTES as a 4-byte little-endian length, then the bytes, per element.</summary>
    private static (double[]? Numbers, string[]? Strings) FromRaw(string datatype, ByteString raw, string field, Dictionary<string, string[]> errors)
    {
        var bytes = raw.Span;
        int size = datatype switch { InferDatatypes.Fp32 or InferDatatypes.Int32Type => 4, InferDatatypes.Fp64 or InferDatatypes.Int64Type => 8, _ => 0 };
        if (datatype == InferDatatypes.Bytes)
        {
            var items = new List<ByteString>();
            while (bytes.Length > 0)
            {
                if (bytes.Length < 4 || BinaryPrimitives.ReadUInt32LittleEndian(bytes) is var length && length > bytes.Length - 4)
                {
                    errors[$"raw_input_contents[{field[7..^1]}]"] = ["BYTES raw contents are, per element, a 4-byte little-endian length and then that many bytes."];
                    return (null, null);
                }

                items.Add(ByteString.CopyFrom(bytes.Slice(4, (int)length)));
                bytes = bytes[(4 + (int)length)..];
            }

            return (null, Texts(items, field, errors));
        }

        if (size == 0)
        {
            return (null, null);
        }

        if (bytes.Length % size != 0)
        {
            errors[$"raw_input_contents[{field[7..^1]}]"] = [$"{datatype} raw contents are {size} bytes per element; got {bytes.Length} bytes."];
            return (null, null);
        }

        var numbers = new double[bytes.Length / size];
        for (int k = 0; k < numbers.Length; k++)
        {
            var element = bytes.Slice(k * size, size);
            numbers[k] = datatype switch
            {
                InferDatatypes.Fp32 => BinaryPrimitives.ReadSingleLittleEndian(element),
                InferDatatypes.Int32Type => BinaryPrimitives.ReadInt32LittleEndian(element),
                InferDatatypes.Fp64 => BinaryPrimitives.ReadDoubleLittleEndian(element),
                _ => BinaryPrimitives.ReadInt64LittleEndian(element),
            };
        }

        return (numbers, null);
    }

    private static string[]? Texts(IEnumerable<ByteString> items, string field, Dictionary<string, string[]> errors)
    {
        try
        {
            return [.. items.Select(item => StrictUtf8.GetString(item.Span))];
        }
        catch (DecoderFallbackException)
        {
            errors[$"{field}.contents"] = ["BYTES elements are UTF-8 text."];
            return null;
        }
    }
}
