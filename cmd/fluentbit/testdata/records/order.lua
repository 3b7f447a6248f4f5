function cb(tag, ts, record)
  record["lua_added"] = "yes"
  record["n"] = 3
  return 1, ts, record
end
