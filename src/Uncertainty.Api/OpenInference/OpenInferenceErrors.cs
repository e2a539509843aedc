using System.Globalization;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Microsoft.AspNetCore.Mvc;
using Uncertainty.Api.Problems;

namespace Uncertainty.Api.OpenInference;

/// <summary>
/// Problems under /v2 in the protocol's shape, <c>{"error": "..."}</c>, and problems met by a gRPC call before its
/// service runs (rate limit, body limit) as a gRPC status: the status, Retry-After and detail stay what
/// <see cref="ProblemMap"/> gave them (written before this writer runs); only the body differs from other routes.
/// </summary>
public sealed class OpenInferenceErrors : IProblemDetailsWriter
{
    public bool CanWrite(ProblemDetailsContext context) => IsGrpc(context.HttpContext.Request) || context.HttpContext.Request.Path.StartsWithSegments("/v2");

    public ValueTask WriteAsync(ProblemDetailsContext context)
    {
        var message = Message(context.ProblemDetails.Detail ?? context.ProblemDetails.Title ?? "Request failed.", (context.ProblemDetails as HttpValidationProblemDetails)?.Errors);
        var response = context.HttpContext.Response;
        if (IsGrpc(context.HttpContext.Request))
        {
            // A trailers-only gRPC response: HTTP 200 with the status in grpc-status, as gRPC clients expect.
            var code = OpenInferenceGrpcErrors.CodeOf(response.StatusCode);
            response.StatusCode = StatusCodes.Status200OK;
            response.ContentType = "application/grpc";
            response.Headers["grpc-status"] = ((int)code).ToString(CultureInfo.InvariantCulture);
            response.Headers["grpc-message"] = Uri.EscapeDataString(message);
            return ValueTask.CompletedTask;
        }

        return new(response.WriteAsJsonAsync(new InferError(message), context.HttpContext.RequestAborted));
    }

    private static bool IsGrpc(HttpRequest request) => request.ContentType?.StartsWith("application/grpc", StringComparison.OrdinalIgnoreCase) == true;

    /// <summary>One line: each field's problem with its field name ("inputs[0].shape: ..."), or the detail.</summary>
    public static string Message(string detail, IDictionary<string, string[]>? errors) =>
        errors is { Count: > 0 } ? string.Join(" ", errors.Select(error => $"{error.Key}: {string.Join(" ", error.Value)}")) : detail;
}

/// <summary>
/// gRPC's side of <see cref="ProblemMap"/>: an exception becomes the status code its HTTP status maps to, with the same
/// message REST gives, and Retry-After as a trailer.
/// </summary>
public sealed partial class OpenInferenceGrpcErrors(ILogger<OpenInferenceGrpcErrors> logger) : Interceptor
{
    public override async Task<TResponse> UnaryServerHandler<TRequest, TResponse>(TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            return await continuation(request, context);
        }
        catch (Exception e) when (e is not RpcException && !(e is OperationCanceledException && context.CancellationToken.IsCancellationRequested))
        {
            var problem = ProblemMap.Describe(e);
            if (problem.Unexpected)
            {
                Log.Unexpected(logger, context.Method, e);
            }
            else
            {
                Log.Answered(logger, context.Method, problem.Status, problem.Detail);
            }

            var trailers = new Metadata();
            if (problem.RetryAfterSeconds is { } seconds)
            {
                trailers.Add("retry-after", seconds.ToString(CultureInfo.InvariantCulture));
            }

            throw new RpcException(new Status(CodeOf(problem.Status), OpenInferenceErrors.Message(problem.Detail, problem.Errors)), trailers);
        }
    }

    /// <summary>The gRPC status code of an HTTP status.</summary>
    public static StatusCode CodeOf(int status) => status switch
    {
        StatusCodes.Status400BadRequest or StatusCodes.Status415UnsupportedMediaType or StatusCodes.Status422UnprocessableEntity => StatusCode.InvalidArgument,
        StatusCodes.Status401Unauthorized => StatusCode.Unauthenticated,
        StatusCodes.Status403Forbidden => StatusCode.PermissionDenied,
        StatusCodes.Status404NotFound => StatusCode.NotFound,
        StatusCodes.Status409Conflict => StatusCode.FailedPrecondition,
        StatusCodes.Status413PayloadTooLarge or StatusCodes.Status429TooManyRequests => StatusCode.ResourceExhausted,
        StatusCodes.Status503ServiceUnavailable => StatusCode.Unavailable,
        StatusCodes.Status504GatewayTimeout => StatusCode.DeadlineExceeded,
        _ => StatusCode.Internal,
    };

    private static partial class Log
    {
        [LoggerMessage(EventId = 1101, Level = LogLevel.Warning, Message = "gRPC {Method} answered {Status}: {Detail}")]
        public static partial void Answered(ILogger logger, string method, int status, string detail);

        [LoggerMessage(EventId = 1102, Level = LogLevel.Error, Message = "gRPC {Method} failed unexpectedly")]
        public static partial void Unexpected(ILogger logger, string method, Exception exception);
    }
}
