"use strict";
document.getElementById("view").textContent = "Sluice console";
