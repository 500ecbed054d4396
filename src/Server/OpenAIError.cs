using System.Text.Json;

namespace LongLM.Server;

/// <summary>
/// A request that cannot be served: the HTTP status and OpenAI's error object
/// <c>{"error": {"message", "type", "param", "code"}}</c>.
/// </summary>
public sealed class OpenAIError(int status, string message, string type = "invalid_request_error", string? param = null, string? code = null)
    : Exception(message)
{
    /// <summary>HTTP status.</summary>
    public int Status { get; } = status;
    /// <summary>OpenAI's error type.</summary>
    public string Type { get; } = type;
    /// <summary>The request field at fault, if one.</summary>
    public string? Param { get; } = param;
    /// <summary>A machine-readable code.</summary>
    public string? Code { get; } = code;

    /// <summary>400 for a bad field.</summary>
    public static OpenAIError BadRequest(string message, string? param = null) => new(400, message, param: param);

    /// <summary>The error object as JSON.</summary>
    public string ToJson() => JsonSerializer.Serialize(new { error = new { message = Message, type = Type, param = Param, code = Code } });
}
