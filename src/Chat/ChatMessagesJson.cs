using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.AI;

namespace LongLM.Chat;

/// <summary>
/// Microsoft.Extensions.AI messages and tools as the message dicts HF chat templates read (transformers' format):
/// <c>{"role", "content"}</c>, assistant <c>tool_calls</c> as <c>{"type": "function", "id", "function": {"name",
/// "arguments"}}</c>, tool results as <c>{"role": "tool", "tool_call_id", "content"}</c>, tools as
/// <c>{"type": "function", "function": {"name", "description", "parameters"}}</c>.
/// </summary>
public static class ChatMessagesJson
{
    /// <summary>The messages, with <paramref name="instructions"/> (ChatOptions.Instructions) as a leading system message.</summary>
    public static JsonArray ToJson(IEnumerable<ChatMessage> messages, string? instructions = null)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var array = new JsonArray();
        var list = messages.ToList();
        if (!string.IsNullOrEmpty(instructions))
        {
            // One system message, as templates expect at most one: the instructions go before an existing one.
            if (list.Count > 0 && list[0].Role == ChatRole.System)
            {
                array.Add(Message("system", instructions + "\n\n" + list[0].Text));
                list.RemoveAt(0);
            }
            else
            {
                array.Add(Message("system", instructions));
            }
        }
        foreach (var message in list)
        {
            foreach (var item in ToJson(message)) array.Add(item);
        }
        return array;
    }

    /// <summary>One message; a message holding tool results becomes one "tool" message per result.</summary>
    public static IEnumerable<JsonObject> ToJson(ChatMessage message)
    {
        ArgumentNullException.ThrowIfNull(message);
        var results = message.Contents.OfType<FunctionResultContent>().ToList();
        foreach (var result in results)
        {
            yield return new JsonObject
            {
                ["role"] = "tool",
                ["tool_call_id"] = result.CallId,
                ["content"] = ResultText(result.Result),
            };
        }
        var calls = message.Contents.OfType<FunctionCallContent>().ToList();
        string text = string.Concat(message.Contents.OfType<TextContent>().Select(t => t.Text));
        if (results.Count > 0 && calls.Count == 0 && text.Length == 0) yield break;
        var json = Message(message.Role.Value, text);
        if (calls.Count > 0)
        {
            json["tool_calls"] = new JsonArray(calls.Select(c => (JsonNode)new JsonObject
            {
                ["type"] = "function",
                ["id"] = c.CallId,
                ["function"] = new JsonObject
                {
                    ["name"] = c.Name,
                    ["arguments"] = JsonSerializer.SerializeToNode(c.Arguments ?? new Dictionary<string, object?>(), AIJsonUtilities.DefaultOptions),
                },
            }).ToArray());
        }
        yield return json;
    }

    /// <summary>The function tools of <paramref name="options"/>, or null when there are none.</summary>
    public static JsonArray? ToolsJson(ChatOptions? options)
    {
        var functions = options?.Tools?.OfType<AIFunctionDeclaration>().ToList();
        if (functions is null || functions.Count == 0) return null;
        return new JsonArray(functions.Select(f => (JsonNode)new JsonObject
        {
            ["type"] = "function",
            ["function"] = new JsonObject
            {
                ["name"] = f.Name,
                ["description"] = f.Description,
                ["parameters"] = JsonNode.Parse(f.JsonSchema.GetRawText()),
            },
        }).ToArray());
    }

    /// <summary>Reads a conversation file: a JSON array of message objects (what /save writes).</summary>
    public static JsonArray Parse(string json, string origin)
    {
        JsonNode? node;
        try
        {
            node = JsonNode.Parse(json, documentOptions: new JsonDocumentOptions { MaxDepth = 64 });
        }
        catch (JsonException e)
        {
            throw new Runtime.LongLMException($"{origin}: not valid JSON: {e.Message}");
        }
        if (node is not JsonArray array || array.Any(m => m is not JsonObject o || o["role"] is not JsonValue))
            throw new Runtime.LongLMException($"{origin}: expected a JSON array of messages like {{\"role\": \"user\", \"content\": \"...\"}}");
        return array;
    }

    private static JsonObject Message(string role, string content) => new() { ["role"] = role, ["content"] = content };

    private static string ResultText(object? result) => result switch
    {
        null => "",
        string s => s,
        JsonElement e when e.ValueKind == JsonValueKind.String => e.GetString()!,
        _ => JsonSerializer.Serialize(result, AIJsonUtilities.DefaultOptions),
    };
}
