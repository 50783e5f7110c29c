"""interactions page (being built)."""
import streamlit as st

st.title("interactions")
st.info("This page is being built.")
