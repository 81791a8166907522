-- Argo CD health for hipaa-operator.io kinds (HipaaWorkspace, PhiStore, AccessReview).
-- Reads status.observedGeneration and the Ready condition, as the operator writes them.
local hs = {}

local function ready_condition(status)
  if status == nil or status.conditions == nil then
    return nil
  end
  for _, condition in ipairs(status.conditions) do
    if condition.type == "Ready" then
      return condition
    end
  end
  return nil
end

local function describe(condition)
  local text = condition.reason or ""
  if condition.message ~= nil and condition.message ~= "" then
    if text ~= "" then
      text = text .. ": "
    end
    text = text .. condition.message
  end
  return text
end

local generation = nil
if obj.metadata ~= nil then
  generation = obj.metadata.generation
end
local status = obj.status

if status == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to report status"
  return hs
end

local observed = status.observedGeneration
if generation ~= nil and (observed == nil or observed < generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. tostring(generation)
  return hs
end

if obj.kind == "AccessReview" and status.phase == "Overdue" then
  hs.status = "Degraded"
  hs.message = "Access review is overdue: decide every principal in spec.decisions"
  local ready = ready_condition(status)
  if ready ~= nil and describe(ready) ~= "" then
    hs.message = hs.message .. " (" .. describe(ready) .. ")"
  end
  return hs
end

-- An open cycle is on its way until it falls due (the operator marks it Overdue then); one the
-- operator did not open for its store (Ready reason NotOpenedByOperator) falls through to
-- Degraded below.
if obj.kind == "AccessReview" and status.phase == "Open" then
  local open = ready_condition(status)
  if open == nil or open.reason == "ReviewPending" then
    hs.status = "Progressing"
    hs.message = "Access review is open: decide every principal in spec.decisions"
    if obj.spec ~= nil and obj.spec.dueBy ~= nil then
      hs.message = hs.message .. " by " .. tostring(obj.spec.dueBy)
    end
    if status.decided ~= nil then
      hs.message = hs.message .. " (" .. tostring(status.decided) .. " decided)"
    end
    return hs
  end
end

local ready = ready_condition(status)
if ready == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the Ready condition"
  return hs
end

if ready.observedGeneration ~= nil and generation ~= nil and ready.observedGeneration < generation then
  hs.status = "Progressing"
  hs.message = "Ready describes generation " .. tostring(ready.observedGeneration) ..
    ", waiting for generation " .. tostring(generation)
  return hs
end

if ready.status == "True" then
  hs.status = "Healthy"
  hs.message = describe(ready)
  return hs
end

if ready.status == "False" then
  if ready.reason == "Remediating" then
    hs.status = "Progressing"
  else
    hs.status = "Degraded"
  end
  hs.message = describe(ready)
  return hs
end

hs.status = "Progressing"
hs.message = describe(ready)
if hs.message == "" then
  hs.message = "Ready is " .. tostring(ready.status)
end
return hs
