using System.Globalization;
using System.Text;

namespace LongLM.Runtime.Chat.Jinja;

/// <summary>
/// transformers' tojson filter: json.dumps(x, ensure_ascii=False, indent=indent, separators=separators,
/// sort_keys=sort_keys), byte for byte (Python's separators, indentation and float repr).
/// </summary>
internal static class PyJson
{
    public static string Dumps(object? value, bool ensureAscii, string? indent, string itemSeparator, string keySeparator, bool sortKeys, Renderer r)
    {
        var sb = new StringBuilder();
        try
        {
            Write(sb, value, ensureAscii, indent, itemSeparator, keySeparator, sortKeys, 0, r);
        }
        catch (InvalidOperationException e) when (e.InnerException is JinjaError inner)
        {
            throw inner; // sort_keys over keys Python cannot order
        }
        r.CheckLength(sb.Length);
        return sb.ToString();
    }

    private static void Write(StringBuilder sb, object? v, bool ascii, string? indent, string itemSep, string keySep, bool sortKeys, int level, Renderer r)
    {
        if (level > 200) throw new SandboxLimitError("value nested too deeply for tojson");
        r.CheckLength(sb.Length);
        switch (v)
        {
            case null: sb.Append("null"); break;
            case bool b: sb.Append(b ? "true" : "false"); break;
            case long l: sb.Append(l.ToString(CultureInfo.InvariantCulture)); break;
            case double d:
                sb.Append(double.IsNaN(d) ? "NaN" : double.IsPositiveInfinity(d) ? "Infinity" : double.IsNegativeInfinity(d) ? "-Infinity" : PyFormat.FloatRepr(d));
                break;
            case string s: WriteString(sb, s, ascii); break;
            case PyList list:
            {
                if (list.Count == 0) { sb.Append("[]"); break; }
                sb.Append('[');
                for (int i = 0; i < list.Count; i++)
                {
                    if (i > 0) sb.Append(itemSep);
                    NewLine(sb, indent, level + 1);
                    Write(sb, list.Items[i], ascii, indent, itemSep, keySep, sortKeys, level + 1, r);
                }
                NewLine(sb, indent, level);
                sb.Append(']');
                break;
            }
            case PyDict dict:
            {
                if (dict.Count == 0) { sb.Append("{}"); break; }
                IEnumerable<KeyValuePair<object, object?>> entries = dict.Entries;
                if (sortKeys) entries = entries.OrderBy(kv => kv, Comparer<KeyValuePair<object, object?>>.Create((a, b) => PyOps.Compare(a.Key, b.Key, "<")));
                sb.Append('{');
                bool first = true;
                foreach (var kv in entries)
                {
                    if (!first) sb.Append(itemSep);
                    first = false;
                    NewLine(sb, indent, level + 1);
                    WriteString(sb, KeyString(kv.Key), ascii);
                    sb.Append(keySep);
                    Write(sb, kv.Value, ascii, indent, itemSep, keySep, sortKeys, level + 1, r);
                }
                NewLine(sb, indent, level);
                sb.Append('}');
                break;
            }
            case Namespace ns:
                throw new JinjaError("Object of type Namespace is not JSON serializable");
            case PyRange:
                throw new JinjaError("Object of type range is not JSON serializable");
            default:
                throw new JinjaError($"Object of type {PyOps.TypeName(v)} is not JSON serializable");
        }
    }

    private static string KeyString(object key) => key switch
    {
        string s => s,
        bool b => b ? "true" : "false",
        long l => l.ToString(CultureInfo.InvariantCulture),
        double d => PyFormat.FloatRepr(d),
        _ => throw new JinjaError($"keys must be str, int, float, bool or None, not {PyOps.TypeName(key)}"),
    };

    private static void NewLine(StringBuilder sb, string? indent, int level)
    {
        if (indent is null) return;
        sb.Append('\n');
        for (int i = 0; i < level; i++) sb.Append(indent);
    }

    public static void WriteString(StringBuilder sb, string s, bool ascii)
    {
        sb.Append('"');
        foreach (char c in s)
        {
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                case '\b': sb.Append("\\b"); break;
                case '\f': sb.Append("\\f"); break;
                default:
                    if (c < 0x20 || (ascii && c > 0x7e)) sb.Append(CultureInfo.InvariantCulture, $"\\u{(int)c:x4}");
                    else sb.Append(c);
                    break;
            }
        }
        sb.Append('"');
    }
}
